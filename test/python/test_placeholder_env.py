def test_python_env_has_pipeline_libraries():
    import pandas, sklearn, xgboost, yaml  # noqa: F401
