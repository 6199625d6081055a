"""The embedded stack behind `jieya dev`: PostgreSQL and Temporal as child
processes, the simulators, and the supervisor that keeps them running."""
