//! The lifecycle as a person reads it: one line per event worth a look, with process and
//! provider names instead of numbers and GUIDs.
//!
//! ```text
//!      t  process            what
//!     10  client-a [3.1]     WSALookupServiceBegin NS_EMAIL "alice@example.com" flags=0x110
//!     10    mail-primary       NSPv2Startup → s1
//! ```

use crate::render::describe::{Actor, Description};
pub use crate::render::describe::{Names, describe};
use nspsim_runtime::event::{Event, EventSink};
use std::io::Write;

/// The printout's columns for a description: provider lines are indented under the call that
/// made them, returns are marked with `←`.
pub fn columns(d: &Description) -> (String, String) {
    match d.actor {
        Actor::Provider(_) => {
            let prefix = match (d.returns, d.alarm) {
                (true, _) => "    ",
                (false, true) => "",
                (false, false) => "  ",
            };
            (format!("  {}", d.who), format!("{prefix}{}", d.what))
        }
        _ if d.returns => (d.who.clone(), format!("  ← {}", d.what)),
        _ => (d.who.clone(), d.what.clone()),
    }
}

/// An event sink that prints the lifecycle, then passes every event on.
pub struct Printer<S, W: Write> {
    pub inner: S,
    pub names: Names,
    out: W,
    color: bool,
    quiet: bool,
}

impl<S: EventSink, W: Write> Printer<S, W> {
    pub fn new(inner: S, names: Names, out: W, color: bool, quiet: bool) -> Self {
        if !quiet {
            let mut out = out;
            let _ = writeln!(out, "{:>9}  {:<24} what", "t (µs)", "who");
            return Printer {
                inner,
                names,
                out,
                color,
                quiet,
            };
        }
        Printer {
            inner,
            names,
            out,
            color,
            quiet,
        }
    }
}

impl<S: EventSink, W: Write> EventSink for Printer<S, W> {
    fn record(&mut self, t: u64, event: Event) {
        if !self.quiet
            && let Some(d) = describe(&mut self.names, &event).filter(|d| !d.quiet)
        {
            let (who, what) = columns(&d);
            let line = format!("{t:>9}  {who:<24} {what}");
            let alarm = matches!(event, Event::Violation { .. } | Event::Fault { .. });
            let _ = if self.color && alarm {
                writeln!(self.out, "\x1b[1;31m{line}\x1b[0m")
            } else {
                writeln!(self.out, "{line}")
            };
        }
        self.inner.record(t, event);
    }

    fn enabled(&self) -> bool {
        true
    }
}
