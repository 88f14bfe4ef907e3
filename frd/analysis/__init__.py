"""Understanding an FRD value: where d² comes from, how certain it is, which features
are degenerate, which images are out of domain. Every function works on features that
were already extracted (no re-extraction)."""
