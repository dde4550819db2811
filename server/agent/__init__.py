"""Domain work: resume parsing and intake, LLM engines, tailoring, renderers."""
