/** Which Python runs the pipeline's steps locally: HEART_PYTHON, else Debian's /usr/bin/python3 (the one with pandas etc.). */
export const DEFAULT_PYTHON = "/usr/bin/python3";

export function resolvePython(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.HEART_PYTHON?.trim();
  return fromEnv ? fromEnv : DEFAULT_PYTHON;
}
