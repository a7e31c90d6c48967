// Providers module. See docs/design.md.
