//! The Kubernetes manifests as `kubectl kustomize` renders them (the kustomize built into
//! kubectl; the test is reported as ignored where kubectl is missing): one migration Job per
//! release named after the image tag, the HPA owning the replica count, every resource in the
//! namespace, no Secret applied, the probes on the provider's health endpoints.

use std::process::Command;

fn kubectl_missing() -> bool {
    Command::new("kubectl").args(["version", "--client"]).output().map_or(true, |o| !o.status.success())
}

/// Renders a copy of deploy/kubernetes whose image tag is `tag`; the documents, split.
fn render_with_tag(tag: &str) -> Vec<String> {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "kustomization.yaml" {
            let line = text.lines().find(|l| l.trim_start().starts_with("newTag:")).expect("a newTag").to_owned();
            text = text.replace(&line, &format!("    newTag: {tag}"));
        }
        std::fs::write(copy.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let output = Command::new("kubectl").arg("kustomize").arg(copy.path()).output().expect("run kubectl");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().split("\n---\n").map(str::to_owned).collect()
}

fn kind_of(document: &str) -> &str {
    document.lines().find_map(|l| l.strip_prefix("kind: ")).unwrap_or("")
}

fn kubernetes_manifests_render_a_migration_job_per_release_and_leave_the_replica_count_to_the_hpa() {
    for tag in ["0.1.0", "2.3.4-rc.1"] {
        let documents = render_with_tag(tag);
        let mut kinds: Vec<&str> = documents.iter().map(|d| kind_of(d)).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "ConfigMap",
                "Deployment",
                "HorizontalPodAutoscaler",
                "Ingress",
                "Job",
                "Namespace",
                "PodDisruptionBudget",
                "Service",
                "Service"
            ]
        );
        let image = format!("image: registry.example.com/idp:{tag}");
        let job = documents.iter().find(|d| kind_of(d) == "Job").unwrap();
        assert!(job.lines().any(|l| l == format!("  name: idp-migrate-{tag}")), "{job}");
        assert!(job.contains(&image) && job.contains("- migrate"), "{job}");
        assert!(!job.contains("idp-kek"), "the migration needs no KEK");
        let deployment = documents.iter().find(|d| kind_of(d) == "Deployment").unwrap();
        assert!(deployment.contains(&image), "{deployment}");
        assert!(!deployment.contains("replicas:"), "the HPA owns the count");
        for probe in ["path: /healthz", "path: /readyz", "secretName: idp-kek", "containerPort: 9090"] {
            assert!(deployment.contains(probe), "{probe}");
        }
        for document in documents.iter().filter(|d| kind_of(d) != "Namespace") {
            assert!(document.lines().any(|l| l == "  namespace: idp"), "{document}");
        }
    }
    let startup = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/startup.rs")).unwrap();
    assert!(startup.contains("\"/healthz\"") && startup.contains("\"/readyz\""), "the probed paths are routes");
}

/// Registered by hand: ignored (and reported so) where kubectl is not installed.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let module = crate::common::harness::Module::of(module_path!());
    let missing = kubectl_missing();
    module
        .sync_test(
            "kubernetes_manifests_render_a_migration_job_per_release_and_leave_the_replica_count_to_the_hpa",
            kubernetes_manifests_render_a_migration_job_per_release_and_leave_the_replica_count_to_the_hpa,
        )
        .into_iter()
        .map(|trial| trial.with_ignored_flag(missing))
        .collect()
}
