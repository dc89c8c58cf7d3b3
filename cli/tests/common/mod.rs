//! Helpers shared by the CLI's integration tests: run the built binary,
//! and build stores with known content through the engine.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::{Db, Input, Options, Store};
use moonvault_pager::store::file::FileStore;

/// Serialises spawning the binary with in-process use of a file store.
///
/// A store's lock is an OS lock on an open file description. A child forked
/// by another test thread holds copies of this process's descriptors until
/// it execs, so a store closed here can still be locked for a moment and a
/// reopen fails with `Locked`. Tests hold this guard while a store is open
/// in-process; spawning takes it too (spawn returns once the child has
/// exec'd, which closes the inherited copies).
static FORK_GUARD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold while opening and using a store in this process.
pub fn in_process() -> std::sync::MutexGuard<'static, ()> {
    FORK_GUARD.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panic with both streams unless the exit status is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit status {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        // A panic exits with 101; make sure none slipped through with the
        // expected code either.
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr
        );
        self
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The binary under test, with a clean environment for its output.
pub fn moonvault() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moonvault"));
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// Run `moonvault ARGS...` with no stdin.
pub fn run(args: &[&str]) -> Run {
    let child = {
        let _guard = in_process();
        moonvault()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the moonvault binary starts")
    };
    finish(child.wait_with_output().expect("the binary finishes"))
}

/// Run `moonvault ARGS...` feeding `input` on stdin.
pub fn run_with_stdin(args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = {
        let _guard = in_process();
        moonvault()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the moonvault binary starts")
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.as_bytes())
        .expect("stdin takes the input");
    drop(stdin);
    finish(child.wait_with_output().expect("the binary finishes"))
}

/// `dir` as a `&str` argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Open the store in `dir` through the engine (hold [`in_process`]).
pub fn open(dir: &Path) -> Store {
    let file = FileStore::open(dir).expect("the file store opens");
    let db = Db::open(Box::new(file), Options::default()).expect("the database opens");
    Store::open(db).expect("the table layer opens")
}

/// A store holding every kind of value, nested records, an array and an
/// index on `users.age`:
///
/// ```lua
/// Memory.config = { name = "demo", ratio = 1.0, big = math.huge, nan = 0/0,
///                   negzero = -0.0, min = math.mininteger, on = true,
///                   blob = "\xff\x00\x01", ["$odd"] = 1, f = <function>,
///                   sin = math.sin }
/// Memory.list = { "a", "b", "c" }
/// Memory.mixed = { [1] = "x", [2.5] = "y", [true] = "z", k = "w" }
/// Memory.users = { u001 = { name = ..., age = ..., profile = { city = ... } }, ... }
/// ```
pub fn build_store(dir: &Path, users: i64) {
    let _guard = in_process();
    let store = open(dir);
    store
        .write(|tx| {
            let config = Input::table([
                ("name", Input::from("demo")),
                ("ratio", Input::from(1.0)),
                ("big", Input::from(f64::INFINITY)),
                ("nan", Input::from(f64::NAN)),
                ("negzero", Input::from(-0.0)),
                ("min", Input::from(i64::MIN)),
                ("on", Input::from(true)),
                ("blob", Input::Value(Value::Str(vec![0xff, 0x00, 0x01]))),
                ("$odd", Input::from(1)),
                ("f", Input::Value(Value::Function(vec![1, 2, 3, 4, 5]))),
                (
                    "sin",
                    Input::Value(Value::NativeFunction("math.sin".into())),
                ),
            ]);
            tx.set(moonvault_engine::ROOT, Key::from("config"), config)?;
            let list = Input::table([(1i64, "a"), (2, "b"), (3, "c")]);
            tx.set(moonvault_engine::ROOT, Key::from("list"), list)?;
            let mixed = Input::table([
                (Key::Int(1), Input::from("x")),
                (Key::Float(2.5), Input::from("y")),
                (Key::Bool(true), Input::from("z")),
                (Key::from("k"), Input::from("w")),
            ]);
            tx.set(moonvault_engine::ROOT, Key::from("mixed"), mixed)?;
            let users_id = tx.ensure_path(&[Key::from("users")])?;
            for i in 1..=users {
                let rec = Input::table([
                    ("name", Input::from(format!("user {i}"))),
                    ("age", Input::from(20 + i % 50)),
                    (
                        "profile",
                        Input::table([("city", Input::from(["Lyon", "Oslo"][(i % 2) as usize]))]),
                    ),
                ]);
                tx.set(users_id, Key::from(format!("u{i:03}")), rec)?;
            }
            tx.create_index(users_id, "age", false)?;
            Ok(())
        })
        .expect("the sample data commits");
    store.db().checkpoint().expect("checkpoint");
}
