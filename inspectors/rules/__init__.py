"""The rules, grouped by what they check. Ids are part of the public interface."""
