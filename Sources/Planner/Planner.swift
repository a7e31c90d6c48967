// Planner module. See docs/design.md.
