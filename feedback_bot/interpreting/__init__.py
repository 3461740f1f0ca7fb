"""Translation work: checks, the .po exchange, and saving what interpreters write."""
