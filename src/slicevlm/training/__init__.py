"""Lightning training: the module (stages, optimiser, steps), schedules and parameter accounting."""
