"""Carbon-aware scheduling: the preprocessor (eligibility), the shared kernel and the strategies."""
