"""Everything the book shows: formatting, tables, figures, generated pages, notebook execution and
the build. It reads configs, claims and result files; it never builds a model or loads a dataset."""
