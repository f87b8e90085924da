//! nspsim's scenario runner and command line.
