//! `moonvault dump`, human and JSON, on a store holding every kind of value.

mod common;

use common::{arg, build_store, run};

#[test]
fn human_dump_is_lua_syntax_with_types_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    build_store(&db, 3);
    let out = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
    for line in [
        "Memory = {",
        "  config = {",
        "    [\"$odd\"] = 1,",
        "    big = math.huge,",
        "    blob = \"\\255\\000\\001\",",
        "    f = <function: Lua, 5 bytes>,",
        "    min = math.mininteger,",
        "    name = \"demo\",",
        "    nan = 0/0,",
        "    negzero = -0.0,",
        "    on = true,",
        "    ratio = 1.0,",
        "    sin = <function: math.sin>,",
        "  list = {",
        "    [1] = \"a\",",
        "    [2.5] = \"y\",",
        "    [true] = \"z\",",
        "  users = {  -- indexed on age",
        "    u001 = {",
        "      age = 21,",
        "        city = \"Oslo\",",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(out.ends_with("}\n"));
}

#[test]
fn json_dump_follows_the_documented_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    build_store(&db, 2);
    let out = run(&["dump", "--db", arg(&db), "--json"]).expect(0).stdout;
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let c = &v["config"];
    // "$odd" is a key starting with `$`, so config is an entries list.
    let entries = c["$entries"].as_array().expect("config as $entries");
    let get = |name: &str| {
        entries
            .iter()
            .find(|p| p[0] == name)
            .map(|p| p[1].clone())
            .unwrap_or_else(|| panic!("no {name} in {c}"))
    };
    assert!(get("ratio").is_f64(), "1.0 stays a float");
    assert!(out.contains("\"ratio\", 1.0]"), "{out}");
    assert_eq!(get("min").as_i64(), Some(i64::MIN));
    assert_eq!(get("big"), serde_json::json!({"$float": "inf"}));
    assert_eq!(get("nan"), serde_json::json!({"$float": "nan"}));
    assert!(out.contains("\"negzero\", -0.0]"), "{out}");
    assert_eq!(get("blob"), serde_json::json!({"$bytes": "/wAB"}));
    assert_eq!(get("f"), serde_json::json!({"$function": {"bytes": 5}}));
    assert_eq!(get("sin"), serde_json::json!({"$function": "math.sin"}));
    assert_eq!(get("on"), serde_json::json!(true));
    assert_eq!(v["list"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(
        v["mixed"],
        serde_json::json!({"$entries": [[true, "z"], [1, "x"], [2.5, "y"], ["k", "w"]]})
    );
    let u = &v["users"]["u001"];
    assert!(u["age"].is_i64(), "integers stay integers: {u}");
    assert_eq!(u["age"], serde_json::json!(21));
    assert_eq!(u["profile"]["city"], "Oslo");
}

#[test]
fn dump_of_a_path_and_of_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    build_store(&db, 2);
    let out = run(&["dump", "--db", arg(&db), "--path", "users.u002.profile"])
        .expect(0)
        .stdout;
    assert_eq!(
        out,
        "Memory.users.u002.profile = {\n  city = \"Lyon\",\n}\n"
    );
    let out = run(&["dump", "--db", arg(&db), "--path", "list.2", "--json"])
        .expect(0)
        .stdout;
    assert_eq!(out, "\"b\"\n");
    let r = run(&["dump", "--db", arg(&db), "--path", "nope"]).expect(1);
    assert!(r.stderr.contains("Memory.nope is nil"), "{}", r.stderr);
}

#[test]
fn empty_store_dumps_empty_and_missing_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    drop(common::open(&db));
    assert_eq!(
        run(&["dump", "--db", arg(&db)]).expect(0).stdout,
        "Memory = {}\n"
    );
    assert_eq!(
        run(&["dump", "--db", arg(&db), "--json"]).expect(0).stdout,
        "{}\n"
    );
    let missing = dir.path().join("missing.db");
    let r = run(&["dump", "--db", arg(&missing)]).expect(1);
    assert!(r.stderr.contains("no moonvault store"), "{}", r.stderr);
    assert!(
        !missing.exists(),
        "a read-only command must not create a store"
    );
}
