//! Progress bars for long operations, drawn on stderr only when stderr is a
//! terminal (so scripts, pipes and tests see clean output).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use moonvault_lua_bind::{Progress, ProgressPhase, ProgressSink};

fn visible() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar over `len` items, labelled `what`.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    // The template is a constant; a bad one would be a bug caught by any
    // interactive run, so fall back to the default style rather than fail.
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({percent}%) {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// A bar over `len` bytes, labelled `what`.
pub fn byte_bar(len: u64, what: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}) {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// A spinner counting bytes of unknown total, labelled `what`.
pub fn byte_spinner(what: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})") {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    pb
}

/// A spinner for a step of unknown length, labelled `what`.
pub fn spinner(what: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Bars for the index builds (`store.index`) and migrations
/// (`store.migrate`) a chunk runs, driven by the vault's figures (entries of
/// the table, migration steps): the same ones the JS API's `onProgress`
/// reports.
pub fn vault_sink() -> ProgressSink {
    let mut current: Option<(ProgressPhase, ProgressBar)> = None;
    Box::new(move |p: Progress| {
        if !matches!(&current, Some((phase, _)) if *phase == p.phase) {
            if let Some((_, old)) = current.take() {
                old.finish_and_clear();
            }
            let what = match p.phase {
                ProgressPhase::Index => "indexing",
                ProgressPhase::Migrate => "migrating",
                _ => "working",
            };
            current = Some((p.phase, bar(p.total, what)));
        }
        if let Some((_, pb)) = &current {
            pb.set_length(p.total);
            pb.set_position(p.done);
            if p.done >= p.total {
                pb.finish_and_clear();
                current = None;
            }
        }
    })
}
