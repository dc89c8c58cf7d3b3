//! Schemas: every rule, where checks apply, and the error's wording.

use super::*;
use crate::codec::{Key, Value};
use crate::error::EngineError;
use crate::table::{Input, Store, TableId, TableRead, ROOT};
use crate::testutil::{k, s};

fn users_schema() -> Schema {
    Schema::strict()
        .field("name", FieldRule::string().required().min_len(1).max_len(8))
        .field("age", FieldRule::integer().min(0.0).max(150.0))
        .field("score", FieldRule::number())
        .field("role", FieldRule::any().one_of(["admin", "user"]))
        .field("active", FieldRule::boolean())
        .field("hook", FieldRule::function())
        .field(
            "profile",
            FieldRule::table().schema(Schema::open().field("city", FieldRule::string().required())),
        )
}

fn setup() -> (Store, TableId) {
    let store = Store::memory().unwrap();
    let users = store.ensure_path(&[k("users")]).unwrap();
    store.set_schema(users, Some(users_schema())).unwrap();
    (store, users)
}

fn ann() -> Vec<(Key, Input)> {
    vec![
        (k("name"), Input::from("Ann")),
        (k("age"), Input::from(30)),
        (k("profile"), Input::table([("city", "Oslo")])),
    ]
}

fn with(mut base: Vec<(Key, Input)>, key: &str, v: Input) -> Input {
    base.push((k(key), v));
    Input::Table(base)
}

fn violation(err: EngineError) -> (String, String, String, String) {
    match err {
        EngineError::SchemaViolation(v) => (v.table, v.key, v.field, v.rule),
        EngineError::BatchFailed { source, .. } => violation(*source),
        other => panic!("expected a schema violation, got {other}"),
    }
}

#[test]
fn every_rule_is_checked_on_whole_records() {
    let (store, users) = setup();
    store.set(users, k("ann"), Input::Table(ann())).unwrap();
    let cases: Vec<(Input, &str, &str)> = vec![
        (Input::table([("age", 3)]), "name", "required"),
        (with(ann(), "age", Input::from("old")), "age", "type"),
        (with(ann(), "age", Input::from(3.0)), "age", "type"),
        (with(ann(), "age", Input::from(-1)), "age", "min"),
        (with(ann(), "age", Input::from(151)), "age", "max"),
        (with(ann(), "score", Input::from(f64::NAN)), "score", "ok"),
        (with(ann(), "role", Input::from("root")), "role", "enum"),
        (with(ann(), "role", Input::from("admin")), "role", "ok"),
        (with(ann(), "active", Input::from(1)), "active", "type"),
        (
            with(
                ann(),
                "hook",
                Input::Value(Value::NativeFunction("print".into())),
            ),
            "hook",
            "ok",
        ),
        (with(ann(), "extra", Input::from(1)), "extra", "strict"),
        (
            with(ann(), "profile", Input::table([("zip", 1)])),
            "profile.city",
            "required",
        ),
        (
            with(ann(), "profile", Input::from("Oslo")),
            "profile",
            "type",
        ),
        (Input::from(5), "(the record)", "record"),
    ];
    for (input, field, rule) in cases {
        let result = store.set(users, k("bob"), input.clone());
        if rule == "ok" {
            result.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            continue;
        }
        let (table, key, f, r) = violation(result.unwrap_err());
        assert_eq!(
            (table.as_str(), key.as_str()),
            ("Memory.users", "\"bob\""),
            "{input:?}"
        );
        assert_eq!((f.as_str(), r.as_str()), (field, rule), "{input:?}");
    }
    let name = Input::table([("name", Input::from("x".repeat(9)))]);
    assert_eq!(
        violation(store.set(users, k("c"), name).unwrap_err()).3,
        "max_len"
    );
    let name = Input::table([("name", Input::from(""))]);
    assert_eq!(
        violation(store.set(users, k("c"), name).unwrap_err()).3,
        "min_len"
    );
}

#[test]
fn field_writes_are_checked_before_anything_is_written() {
    let (store, users) = setup();
    store.set(users, k("ann"), Input::Table(ann())).unwrap();
    let rec = store
        .read()
        .unwrap()
        .lookup(&[k("users"), k("ann")])
        .unwrap()
        .unwrap();
    let profile = store.read().unwrap().get(rec, &k("profile")).unwrap();
    let Some(Value::Table(profile)) = profile else {
        panic!()
    };
    let mut tx = store.begin().unwrap();
    let err = tx.set(rec, k("age"), -5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schema violation in Memory.users record \"ann\", field age: -5 is below the minimum 0 \
         (rule `min`); fix the value, or change the schema of Memory.users with set_schema"
    );
    assert!(
        !tx.is_failed(),
        "a refused field write keeps the transaction"
    );
    assert_eq!(
        violation(tx.delete(rec, k("name")).unwrap_err()).3,
        "required"
    );
    assert_eq!(
        violation(tx.set(rec, k("nope"), 1).unwrap_err()).3,
        "strict"
    );
    // Nested: the sub-record's own rule.
    let (_, _, f, r) = violation(tx.delete(profile, k("city")).unwrap_err());
    assert_eq!((f.as_str(), r.as_str()), ("profile.city", "required"));
    tx.set(profile, k("zip"), 1).unwrap(); // open sub-schema
    tx.set(rec, k("age"), 31).unwrap();
    tx.delete(rec, k("age")).unwrap(); // optional
    tx.delete(users, k("ann")).unwrap(); // deleting a record is fine
    tx.commit().unwrap();
}

#[test]
fn set_schema_checks_existing_records_and_is_stored() {
    let store = Store::memory().unwrap();
    let users = store.ensure_path(&[k("users")]).unwrap();
    store
        .set(users, k("a"), Input::table([("name", "A")]))
        .unwrap();
    store
        .set(users, k("b"), Input::table([("age", 3)]))
        .unwrap();
    let err = store.set_schema(users, Some(users_schema())).unwrap_err();
    let (_, key, field, rule) = violation(err);
    assert_eq!(
        (key.as_str(), field.as_str(), rule.as_str()),
        ("\"b\"", "name", "required")
    );
    assert!(store.read().unwrap().schema(users).is_none());
    store
        .set(users, k("b"), Input::table([("name", "B")]))
        .unwrap();
    store.set_schema(users, Some(users_schema())).unwrap();
    // Stored in the catalog: a new handle on the same db sees it.
    let again = Store::open(store.db().clone()).unwrap();
    assert_eq!(again.read().unwrap().schema(users), Some(users_schema()));
    assert!(again
        .set(users, k("c"), Input::table([("age", 1)]))
        .is_err());
    // Invalid schemas are refused.
    let bad = Schema::open().field("x", FieldRule::number().min(5.0).max(1.0));
    assert!(matches!(
        store.set_schema(users, Some(bad)),
        Err(EngineError::InvalidArgument(_))
    ));
    store.set_schema(users, None).unwrap();
    store
        .set(users, k("c"), Input::table([("age", 1)]))
        .unwrap();
}

#[test]
fn replacing_a_collection_checks_its_records() {
    let (store, users) = setup();
    store.set(users, k("ann"), Input::Table(ann())).unwrap();
    // `Memory.users = {...}` keeps the table, so its schema applies.
    let bad = Input::table([("x", Input::table([("age", 1)]))]);
    let (table, key, field, rule) = violation(store.set(ROOT, k("users"), bad).unwrap_err());
    assert_eq!(
        (table.as_str(), key.as_str(), field.as_str(), rule.as_str()),
        ("Memory.users", "\"x\"", "name", "required")
    );
    assert_eq!(
        store.read().unwrap().len(users).unwrap(),
        1,
        "nothing applied"
    );
    store
        .set(ROOT, k("users"), Input::table([("z", Input::Table(ann()))]))
        .unwrap();
    assert_eq!(
        store
            .read()
            .unwrap()
            .get_path(users, &[k("z"), k("name")])
            .unwrap(),
        Some(s("Ann"))
    );
}
