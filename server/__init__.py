"""jbdiff server: OSC/MIDI daemon, job queue and journal, hot folder."""
