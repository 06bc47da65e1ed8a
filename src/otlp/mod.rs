//! OTLP/HTTP receiver for the agents' own telemetry (issue 4).
