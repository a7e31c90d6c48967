// Reconciler module. See docs/design.md.
