"""What users write: the experiment manifest, the settings, and the errors that name fixes."""
