//! `moonvault repl` with piped input: expressions print their values,
//! statements run, unfinished chunks continue, each entry is atomic and an
//! error does not end the session.

mod common;

use common::{arg, run, run_with_stdin};

#[test]
fn repl_evaluates_entries_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let input = "\
1 + 1
Memory.n = 41
Memory.n + 1
function double(x)
  return x * 2
end
double(21), 'two'
Memory.gone = true; error('nope')
Memory.gone
print('printed')
";
    let r = run_with_stdin(&["repl", "--db", arg(&db)], input).expect(0);
    assert_eq!(r.stdout, "2\n42\n42\t\"two\"\nnil\nprinted\n");
    assert!(r.stderr.contains("stdin:1: nope"), "{}", r.stderr);
    assert!(r.stderr.contains("stack traceback:"), "{}", r.stderr);
    // The failed entry's write was rolled back; the others committed.
    let dump = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
    assert_eq!(dump, "Memory = {\n  n = 41,\n}\n");
}

#[test]
fn repl_shows_tables_as_their_contents() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let input = "\
Memory.users = {u1 = {name = 'Ann', tags = {'a', 'b'}}, u2 = {name = 'Bob', age = 45}}
Memory.users
Memory.users.u1, 'x\\n', 1.0, print
local t = {1, 2} t.self = t return t
Memory.f = function() end
Memory
";
    let r = run_with_stdin(&["repl", "--db", arg(&db)], input).expect(0);
    assert_eq!(
        r.stdout,
        "\
{u1 = {name = \"Ann\", tags = {\"a\", \"b\"}}, u2 = {age = 45, name = \"Bob\"}}
{name = \"Ann\", tags = {\"a\", \"b\"}}\t\"x\\n\"\t1.0\t<function: C>
{1, 2, self = <cycle>}
{
  f = <function>,
  users = {
    u1 = {name = \"Ann\", tags = {\"a\", \"b\"}},
    u2 = {age = 45, name = \"Bob\"},
  },
}
",
        "{}",
        r.stderr
    );
}
