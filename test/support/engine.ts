/**
 * A small stand-in for the Pulumi engine's step generator and executor (pkg/resource/deploy/step_generator.go),
 * enough to drive providers through the sequences a real `pulumi up`, `pulumi refresh`, `pulumi up --replace` and
 * `pulumi destroy` run, calling them the way the Node.js dynamic provider host does
 * (@pulumi/pulumi cmd/dynamic-provider: check(olds = old inputs, news); diff(id, olds = old outputs, news);
 * create(news); update(id, old outputs, news); read(id, old outputs) → an empty id means the resource is gone;
 * delete(id, old outputs)).
 *
 * What it follows, from the step generator:
 *  - a new resource: Check, then Create;
 *  - an existing one: Check(old inputs, new inputs), Diff; no changes → Same; changes without replace keys → Update;
 *  - a replacement (replace keys, or `--replace`): Check again with no old inputs (not for a targeted replace), then
 *      create-before-delete (the default): CreateReplacement now, DeleteReplaced after every create and update of
 *      the deployment, with the other deletes;
 *      delete-before-replace (the provider's diff says so, or the resource option): DeleteReplaced first, then
 *      CreateReplacement. (The engine would also delete dependents that must be replaced with it; the graphs here
 *      have none.)
 *  - resources no longer declared are deleted at the end, in reverse dependency order (here: the reverse of the
 *    order they entered the state, which is creation order);
 *  - refresh reads every resource, drops the ones read as gone, keeps the read outputs (and inputs when given);
 *  - destroy deletes everything in reverse order.
 * A step that throws stops the run, as the engine does.
 */
import type * as pulumi from "@pulumi/pulumi";

export interface Goal {
  /** `${type}::${name}` */
  readonly urn: string;
  readonly type: string;
  readonly inputs: Record<string, any>;
  /** The resource option; overrides the provider's diff when set. */
  readonly deleteBeforeReplace?: boolean;
}

export interface StateEntry {
  readonly urn: string;
  readonly type: string;
  readonly id: string;
  readonly inputs: Record<string, any>;
  readonly outputs: Record<string, any>;
}

export type StepOp = "create" | "update" | "same" | "create-replacement" | "delete-replaced" | "delete" | "refresh" | "refresh-gone";

export interface StepRecord {
  readonly op: StepOp;
  readonly urn: string;
}

export type ProviderLookup = (type: string) => pulumi.dynamic.ResourceProvider;

export class Engine {
  /** The stack's state, in the order resources entered it. */
  state = new Map<string, StateEntry>();
  readonly steps: StepRecord[] = [];

  /** `onRunStart`: called at the start of every run (each `pulumi` command is a new provider process). */
  constructor(
    private readonly providerOf: ProviderLookup,
    private readonly onRunStart: () => void = () => undefined,
  ) {}

  /** Steps since `from` as "op urn" strings (for assertions). */
  stepsSince(from: number): string[] {
    return this.steps.slice(from).map((s) => `${s.op} ${s.urn}`);
  }

  private async check(p: pulumi.dynamic.ResourceProvider, urn: string, olds: Record<string, any>, news: Record<string, any>): Promise<Record<string, any>> {
    if (!p.check) return news;
    const r = await p.check(olds, news);
    if (r.failures && r.failures.length > 0) {
      throw new Error(`${urn} has check errors: ${r.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
    }
    return r.inputs ?? news;
  }

  private async create(p: pulumi.dynamic.ResourceProvider, goal: Goal, inputs: Record<string, any>): Promise<StateEntry> {
    const r = await p.create(inputs);
    return { urn: goal.urn, type: goal.type, id: r.id, inputs, outputs: r.outs ?? {} };
  }

  private async remove(e: StateEntry, op: StepOp, deleted?: Set<string>): Promise<void> {
    const p = this.providerOf(e.type);
    if (p.delete) await p.delete(e.id, e.outputs);
    deleted?.add(e.urn);
    this.steps.push({ op, urn: e.urn });
  }

  /** `pulumi up` (with `--replace` targets, and `--refresh` first when asked). */
  async up(goals: readonly Goal[], opts: { replace?: readonly string[]; refresh?: boolean } = {}): Promise<void> {
    this.onRunStart();
    if (opts.refresh) await this.refresh();
    const olds = this.state;
    const next = new Map<string, StateEntry>();
    const replaced: StateEntry[] = [];
    const deleted = new Set<string>();
    try {
      for (const goal of goals) {
        const p = this.providerOf(goal.type);
        const old = olds.get(goal.urn);
        const checked = await this.check(p, goal.urn, old?.inputs ?? {}, goal.inputs);
        if (!old) {
          next.set(goal.urn, await this.create(p, goal, checked));
          this.steps.push({ op: "create", urn: goal.urn });
          continue;
        }
        const diff: pulumi.dynamic.DiffResult = p.diff ? await p.diff(old.id, old.outputs, checked) : { changes: true };
        const targeted = opts.replace?.includes(goal.urn) ?? false;
        if (targeted || (diff.changes !== false && (diff.replaces?.length ?? 0) > 0)) {
          const inputs = targeted ? checked : await this.check(p, goal.urn, {}, goal.inputs);
          const dbr = goal.deleteBeforeReplace ?? diff.deleteBeforeReplace ?? false;
          if (dbr) {
            await this.remove(old, "delete-replaced", deleted);
            next.set(goal.urn, await this.create(p, goal, inputs));
            this.steps.push({ op: "create-replacement", urn: goal.urn });
          } else {
            next.set(goal.urn, await this.create(p, goal, inputs));
            this.steps.push({ op: "create-replacement", urn: goal.urn });
            replaced.push(old);
          }
        } else if (diff.changes) {
          const r = p.update ? await p.update(old.id, old.outputs, checked) : {};
          next.set(goal.urn, { ...old, inputs: checked, outputs: r.outs ?? checked });
          this.steps.push({ op: "update", urn: goal.urn });
        } else {
          next.set(goal.urn, { ...old, inputs: checked });
          this.steps.push({ op: "same", urn: goal.urn });
        }
      }
      // Deletes last, in reverse of the order the old resources were created: replaced ones and undeclared ones.
      const declared = new Set(goals.map((g) => g.urn));
      const order = [...olds.keys()];
      const condemned = [...olds.values()].filter((e) => !declared.has(e.urn) || replaced.includes(e));
      condemned.sort((a, b) => order.indexOf(b.urn) - order.indexOf(a.urn));
      for (const e of condemned) {
        if (replaced.includes(e)) await this.remove(e, "delete-replaced");
        else await this.remove(e, "delete", deleted);
      }
    } finally {
      // As the engine's snapshot: what was created or updated stays even when a later step failed, and what
      // was not reached (or not yet deleted) stays as it was.
      for (const [urn, e] of olds) if (!next.has(urn) && !deleted.has(urn)) next.set(urn, e);
      this.state = next;
    }
  }

  /** `pulumi refresh`. */
  async refresh(): Promise<void> {
    this.onRunStart();
    const next = new Map<string, StateEntry>();
    for (const [urn, e] of this.state) {
      const p = this.providerOf(e.type);
      if (!p.read) {
        next.set(urn, e);
        continue;
      }
      const r = await p.read(e.id, e.outputs);
      if (!r.id) {
        this.steps.push({ op: "refresh-gone", urn });
        continue;
      }
      next.set(urn, { ...e, id: r.id, outputs: r.props ?? {}, inputs: r.inputs ?? e.inputs });
      this.steps.push({ op: "refresh", urn });
    }
    this.state = next;
  }

  /** `pulumi destroy`. */
  async destroy(): Promise<void> {
    this.onRunStart();
    for (const e of [...this.state.values()].reverse()) {
      await this.remove(e, "delete");
      this.state.delete(e.urn);
    }
  }
}
