"""Audiences: who is held out, who fits under the target cap, and whether being in the audience lifts conversions."""
