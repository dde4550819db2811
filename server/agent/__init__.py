"""Domain work of the agent: resume parsing, LLM engines, tailoring."""
