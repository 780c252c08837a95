"""What the benches and the tests are made of: the shared photographs (`photos`),
graphics rendered with their look-alikes (`graphics`), and the edits a copy goes
through (`families`, AugLy's; `edits`, the stress edits beyond them)."""
