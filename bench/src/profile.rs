//! Optional `perf record` of the service process during chosen phases (`--perf DIR`).
//!
//! The recording is a child `perf` attached to the service's pid, stopped with SIGINT (so
//! it writes a complete file) when the guard is dropped at the end of the phase. Call graphs use
//! DWARF unwinding: the release profile keeps line tables but no frame pointers.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

pub struct Profiler {
    dir: PathBuf,
}

pub struct Recording {
    child: Option<Child>,
}

impl Profiler {
    pub fn new(dir: PathBuf) -> anyhow::Result<Profiler> {
        std::fs::create_dir_all(&dir)?;
        Ok(Profiler { dir })
    }

    /// Starts recording `pid` into `<dir>/<name>.perf.data`.
    pub fn start(&self, pid: u32, name: &str) -> anyhow::Result<Recording> {
        let out = self.dir.join(format!("{name}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start `perf record` (apt-get install linux-perf)")?;
        // perf needs a moment to attach before the phase starts.
        std::thread::sleep(Duration::from_millis(300));
        eprintln!("  profiling the service into {}", out.display());
        Ok(Recording { child: Some(child) })
    }
}

impl Recording {
    fn finish(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.finish();
    }
}
