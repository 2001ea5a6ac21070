//! Offline checks of runtimeclass/: every Kubernetes YAML against the typed schema of
//! k8s-openapi (plus an unknown-field check, which serde alone does not do), the containerd
//! config fragments, the example seccomp profile and the crictl JSON files. No cluster, no root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use k8s_openapi::api::core::v1::{Pod, SeccompProfile};
use k8s_openapi::api::node::v1::RuntimeClass;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const NODE_LABEL: (&str, &str) = ("pinhole.dev/runtime", "true");
const RUNTIME_TYPE: &str = "io.containerd.pinhole.v2";
/// containerd config fragment -> the plugin table holding the CRI runtimes.
const FRAGMENTS: [(&str, &str); 2] = [
    ("config-v2.toml", "io.containerd.grpc.v1.cri"),
    ("config-v3.toml", "io.containerd.cri.v1.runtime"),
];

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtimeclass")
        .join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files under `root` (recursively) whose name ends with one of `exts`, sorted.
fn files(root: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path, exts));
        } else if exts.iter().any(|x| path.to_string_lossy().ends_with(x)) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A Kubernetes object this repository ships.
#[derive(Debug)]
enum Object {
    RuntimeClass(Box<RuntimeClass>),
    Pod(Box<Pod>),
}

/// The non-empty documents of a (multi-document) YAML text, as JSON values.
fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Type-checks one document and rejects fields the schema does not have.
fn check_document(doc: &Value) -> Result<Object, String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("node.k8s.io/v1", "RuntimeClass") => typed(doc).map(Object::RuntimeClass),
        ("v1", "Pod") => typed(doc).map(Object::Pod),
        _ => Err(format!(
            "unexpected apiVersion/kind {api_version:?}/{kind:?}"
        )),
    }
}

/// Deserializes `doc` into `T`, then serializes it back: a key of `doc` that did not survive
/// the round trip is not part of `T`'s schema (k8s-openapi ignores unknown fields).
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<Box<T>, String> {
    let value: T = serde_path_to_error::deserialize(doc.clone())
        .map_err(|e| format!("$.{}: {}", e.path(), e.inner()))?;
    let back = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    let mut dropped = Vec::new();
    dropped_keys(doc, &back, "$", &mut dropped);
    if dropped.is_empty() {
        Ok(Box::new(value))
    } else {
        Err(format!("unknown fields: {}", dropped.join(", ")))
    }
}

/// Appends the JSON path of every key of `orig` that is missing in `back`. Null values are
/// skipped: they mean "unset" and k8s-openapi drops them legitimately.
fn dropped_keys(orig: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (key, value) in o.iter().filter(|(_, v)| !v.is_null()) {
                let sub = format!("{path}.{key}");
                match b.get(key) {
                    Some(bv) => dropped_keys(value, bv, &sub, out),
                    None => out.push(sub),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            for (i, value) in o.iter().enumerate() {
                match b.get(i) {
                    Some(bv) => dropped_keys(value, bv, &format!("{path}[{i}]"), out),
                    None => out.push(format!("{path}[{i}]")),
                }
            }
        }
        _ => {}
    }
}

/// Every object in runtimeclass/kubernetes and runtimeclass/examples; panics listing all errors.
fn load_objects() -> Vec<(PathBuf, Object)> {
    let (mut objects, mut errors) = (Vec::new(), Vec::new());
    for path in [dir("kubernetes"), dir("examples")]
        .iter()
        .flat_map(|d| files(d, &[".yaml", ".yml"]))
    {
        match yaml_documents(&read(&path)) {
            Ok(docs) if docs.is_empty() => errors.push(format!("{}: no document", path.display())),
            Ok(docs) => {
                for (i, doc) in docs.iter().enumerate() {
                    match check_document(doc) {
                        Ok(obj) => objects.push((path.clone(), obj)),
                        Err(e) => errors.push(format!("{} (document {i}): {e}", path.display())),
                    }
                }
            }
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        errors.is_empty(),
        "invalid manifests:\n{}",
        errors.join("\n")
    );
    objects
}

fn runtime_classes(objects: &[(PathBuf, Object)]) -> Vec<&RuntimeClass> {
    objects
        .iter()
        .filter_map(|(_, o)| match o {
            Object::RuntimeClass(rc) => Some(&**rc),
            Object::Pod(_) => None,
        })
        .collect()
}

/// The runtime tables of a containerd fragment, as (handler, table).
fn fragment_runtimes(file: &str, plugin: &str) -> Vec<(String, toml::Table)> {
    let path = dir("containerd").join(file);
    let doc: toml::Table = read(&path)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let runtimes = doc
        .get("plugins")
        .and_then(|p| p.get(plugin))
        .and_then(|p| p.get("containerd"))
        .and_then(|c| c.get("runtimes"))
        .and_then(toml::Value::as_table)
        .unwrap_or_else(|| panic!("{file}: no plugins.{plugin:?}.containerd.runtimes"));
    runtimes
        .iter()
        .map(|(name, t)| {
            let t = t
                .as_table()
                .unwrap_or_else(|| panic!("{file}: {name}: not a table"));
            (name.clone(), t.clone())
        })
        .collect()
}

#[test]
fn manifests_match_the_kubernetes_schema() {
    let objects = load_objects();
    let pods = objects.iter().filter(|(_, o)| matches!(o, Object::Pod(_)));
    assert_eq!(runtime_classes(&objects).len(), 2, "RuntimeClasses");
    assert!(pods.count() >= 4, "example pods");
}

#[test]
fn runtime_classes_have_overhead_and_node_selector() {
    let objects = load_objects();
    for rc in runtime_classes(&objects) {
        let name = rc.metadata.name.as_deref().unwrap_or_default();
        assert_eq!(
            name, rc.handler,
            "RuntimeClass name should equal its handler"
        );
        let fixed = rc.overhead.as_ref().and_then(|o| o.pod_fixed.as_ref());
        let fixed = fixed.unwrap_or_else(|| panic!("{name}: no overhead.podFixed"));
        for resource in ["memory", "cpu"] {
            assert!(
                fixed.contains_key(resource),
                "{name}: no podFixed.{resource}"
            );
        }
        let scheduling = rc
            .scheduling
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no scheduling"));
        let selector = scheduling.node_selector.clone().unwrap_or_default();
        assert_eq!(
            selector.get(NODE_LABEL.0).map(String::as_str),
            Some(NODE_LABEL.1),
            "{name}: nodeSelector"
        );
        assert!(scheduling.tolerations.is_none(), "{name}: tolerations");
    }
}

#[test]
fn handlers_match_containerd_fragments_and_policies() {
    let objects = load_objects();
    let handlers: BTreeSet<String> = runtime_classes(&objects)
        .iter()
        .map(|rc| rc.handler.clone())
        .collect();
    for (file, plugin) in FRAGMENTS {
        let runtimes = fragment_runtimes(file, plugin);
        let names: BTreeSet<String> = runtimes.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            names, handlers,
            "{file}: runtime tables vs RuntimeClass handlers"
        );
        for (name, table) in &runtimes {
            let get = |key: &str| table.get(key).and_then(toml::Value::as_str);
            assert_eq!(get("runtime_type"), Some(RUNTIME_TYPE), "{file}: {name}");
            let annotations = table.get("pod_annotations").and_then(toml::Value::as_array);
            let annotations: Vec<_> = annotations.into_iter().flatten().collect();
            assert_eq!(
                annotations,
                [&toml::Value::from("pinhole.dev/*")],
                "{file}: {name}"
            );
            let config_path = table
                .get("options")
                .and_then(|o| o.get("ConfigPath"))
                .and_then(toml::Value::as_str);
            let expected = format!("/etc/pinhole/{name}.toml");
            assert_eq!(config_path, Some(expected.as_str()), "{file}: {name}");
        }
    }
    for handler in &handlers {
        // the file installed as /etc/pinhole/<handler>.toml, named after its handler
        let path = dir("policies").join(format!("{handler}.toml"));
        let policy: toml::Table = read(&path).parse().unwrap();
        assert_eq!(
            policy["name"].as_str(),
            Some(handler.as_str()),
            "{}",
            path.display()
        );
    }
    let v3: toml::Table = read(&dir("containerd/config-v3.toml")).parse().unwrap();
    assert_eq!(v3.get("version").and_then(toml::Value::as_integer), Some(3));
}

#[test]
fn example_pods_use_existing_classes_and_profiles() {
    let objects = load_objects();
    let classes: BTreeSet<String> = runtime_classes(&objects)
        .iter()
        .filter_map(|rc| rc.metadata.name.clone())
        .collect();
    let mut localhost = 0;
    for (path, object) in &objects {
        let Object::Pod(pod) = object else { continue };
        let spec = pod.spec.as_ref().expect("pod spec");
        let class = spec.runtime_class_name.as_deref().unwrap_or_default();
        assert!(
            classes.contains(class),
            "{}: runtimeClassName {class:?}",
            path.display()
        );
        let pod_profile = spec
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref());
        let container_profiles = spec.containers.iter().filter_map(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.seccomp_profile.as_ref())
        });
        for profile in pod_profile.into_iter().chain(container_profiles) {
            if profile.type_ == "Localhost" {
                check_localhost_profile(path, profile);
                localhost += 1;
            }
        }
    }
    assert!(localhost > 0, "no example uses a Localhost seccomp profile");
}

/// Localhost profiles are relative to the kubelet's seccomp directory; the repository keeps them
/// under runtimeclass/examples/seccomp/.
fn check_localhost_profile(pod: &Path, profile: &SeccompProfile) {
    let rel = profile.localhost_profile.as_deref();
    let rel =
        rel.unwrap_or_else(|| panic!("{}: Localhost without localhostProfile", pod.display()));
    let path = dir("examples/seccomp").join(rel);
    assert!(
        path.is_file(),
        "{}: {} missing",
        pod.display(),
        path.display()
    );
    if let Err(e) = check_seccomp_profile(&read(&path)) {
        panic!("{}: {e}", path.display());
    }
}

const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// A Docker/containerd-format seccomp profile: known keys and actions, x86_64 syscall names.
fn check_seccomp_profile(text: &str) -> Result<(), String> {
    let profile: Value = serde_json::from_str(text).map_err(|e| format!("JSON: {e}"))?;
    let top = profile.as_object().ok_or("not an object")?;
    let known_top = [
        "defaultAction",
        "defaultErrnoRet",
        "architectures",
        "archMap",
        "syscalls",
        "flags",
        "listenerPath",
        "listenerMetadata",
    ];
    if let Some(key) = top.keys().find(|k| !known_top.contains(&k.as_str())) {
        return Err(format!("unknown key {key:?}"));
    }
    let action_ok = |a: &Value| a.as_str().is_some_and(|a| ACTIONS.contains(&a));
    if !action_ok(&profile["defaultAction"]) {
        return Err(format!("defaultAction {}", profile["defaultAction"]));
    }
    let arches = profile["architectures"]
        .as_array()
        .ok_or("no architectures")?;
    if !arches.contains(&Value::from("SCMP_ARCH_X86_64")) {
        return Err("architectures lack SCMP_ARCH_X86_64".into());
    }
    let rules = profile["syscalls"].as_array().ok_or("no syscalls")?;
    let known_rule = [
        "names", "action", "args", "errnoRet", "comment", "includes", "excludes",
    ];
    let mut seen = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let keys = rule
            .as_object()
            .ok_or(format!("syscalls[{i}]: not an object"))?;
        if let Some(key) = keys.keys().find(|k| !known_rule.contains(&k.as_str())) {
            return Err(format!("syscalls[{i}]: unknown key {key:?}"));
        }
        if !action_ok(&rule["action"]) {
            return Err(format!("syscalls[{i}]: action {}", rule["action"]));
        }
        let names = rule["names"]
            .as_array()
            .ok_or(format!("syscalls[{i}]: no names"))?;
        for name in names {
            let name = name.as_str().ok_or(format!("syscalls[{i}]: name {name}"))?;
            syscalls::x86_64::Sysno::from_str(name)
                .map_err(|_| format!("syscalls[{i}]: {name:?} is no x86_64 syscall"))?;
            if !seen.insert(name) {
                return Err(format!("syscalls[{i}]: {name:?} listed twice"));
            }
        }
    }
    Ok(())
}

#[test]
fn crictl_examples_parse() {
    let found = files(&dir("examples/crictl"), &[".json"]);
    assert!(found.len() >= 2, "crictl examples");
    for path in found {
        let v: Value = serde_json::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            v["metadata"]["name"].is_string(),
            "{}: metadata.name",
            path.display()
        );
    }
}

#[test]
fn unknown_and_misspelled_fields_are_rejected() {
    const POD: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  KEY: pinhole
  containers:
    - name: main
      image: busybox
";
    let pod = |runtime_class_key: &str| POD.replace("KEY", runtime_class_key);
    let check = |text: &str| check_document(&yaml_documents(text).unwrap()[0]).map(|_| ());
    assert_eq!(check(&pod("runtimeClassName")), Ok(()));
    assert_eq!(
        check(&pod("runtimeClasName")),
        Err("unknown fields: $.spec.runtimeClasName".to_string())
    );
    // nested, inside an array element
    let nested = pod("runtimeClassName").replace(
        "image: busybox",
        "image: busybox\n      imagePullPolicy: Always\n      comand: [sh]",
    );
    assert_eq!(
        check(&nested),
        Err("unknown fields: $.spec.containers[0].comand".to_string())
    );
    // wrong types and wrong kinds fail in the typed step
    let wrong_type = check(&pod("runtimeClassName").replace("name: typo", "name: [typo]"));
    assert!(wrong_type.unwrap_err().starts_with("$.metadata.name: "));
    let rc = "apiVersion: node.k8s.io/v1beta1\nkind: RuntimeClass\nhandler: pinhole\n";
    assert!(check(rc)
        .unwrap_err()
        .contains("unexpected apiVersion/kind"));
    // the profile checker catches made-up syscalls and actions
    let profile = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
        "syscalls":[{"names":["read","not_a_syscall"],"action":"SCMP_ACT_ALLOW"}]}"#;
    assert!(check_seccomp_profile(profile)
        .unwrap_err()
        .contains("not_a_syscall"));
    let profile = profile.replace(
        "not_a_syscall\"],\"action\":\"SCMP_ACT_ALLOW",
        "write\"],\"action\":\"ALLOW",
    );
    assert!(check_seccomp_profile(&profile).is_err());
}
