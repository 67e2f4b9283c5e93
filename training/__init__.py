"""jbdiff training: Lightning modules, data and the train commands."""
