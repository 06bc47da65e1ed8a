//! Rendering cost: loading the built-in types, and rendering a configuration with fan-in,
//! per-source and per-destination processors. `cargo bench --bench render`.

use criterion::{Criterion, criterion_group, criterion_main};
use fleetdeck::pipeline::{
    Configuration, NoDestinations, Resource, TypeRegistry, parse_resources, render,
};

const CONFIG: &str = r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bench}
spec:
  sources:
    - type: hostmetrics
      processors: [{type: resourcedetection}]
    - type: filelog
      parameters: {include: ["/var/log/*.log"], parse_format: json}
    - type: otlp
    - type: redis
  processors: [{type: memory_limiter}, {type: batch}]
  destinations:
    - type: dynatrace
      parameters: {endpoint: "https://x.live.dynatrace.com/api/v2/otlp", api_token: t}
    - type: otlp
      parameters: {endpoint: "backup:4317"}
"#;

fn config() -> Configuration {
    match parse_resources(CONFIG, None).map(|mut v| v.remove(0).resource) {
        Ok(Resource::Configuration(c)) => c,
        _ => unreachable!("the bench configuration is valid"),
    }
}

fn bench(c: &mut Criterion) {
    c.bench_function("load built-in types", |b| b.iter(TypeRegistry::builtin));
    let reg = TypeRegistry::builtin();
    let cfg = config();
    c.bench_function("render 4 sources, 2 destinations", |b| {
        b.iter(|| render(&cfg, &reg, &NoDestinations).map(|r| r.sha256))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
