"""skbcheck's checker: generic exploration (explore, trace) and the `check` CLI."""
