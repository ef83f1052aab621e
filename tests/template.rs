//! Structural checks of the SAM template (template.yaml). The template uses long-form
//! intrinsics only (`Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, ...), so it is plain YAML.
//! cfn-lint (the rules `sam validate --lint` runs) is run by scripts/check-template.
//!
//! One test binary; each file of `tests/template/` checks one concern:
//! - `resources`: long-form intrinsics, resource types, the tables, function builds, the
//!   webhook's Function URL and optional HTTP API;
//! - `iam`: least privilege of the webhook and deliver policies;
//! - `schedules`: the outbox sweep and the resync (schedule, environment, policy);
//! - `environment`: function environments against docs/DESIGN.md's configuration table;
//! - `delivery`: the rule, the delivery queue and mapping, the DLQ, the API destination,
//!   reserved concurrency;
//! - `operations`: log groups, alarms, the dashboard, the outputs;
//! - `parameters`: no secret values, https roots, samconfig.toml;
//! - `audit`: the scheduled audit (schedule, repair parameter, Open Zaak's credentials, the
//!   AuditDifferences alarm);
//! - `helpers`: loading the template and reading its resources and policies.

#[path = "template/helpers.rs"]
mod helpers;

#[path = "template/audit.rs"]
mod audit;

#[path = "template/delivery.rs"]
mod delivery;
#[path = "template/environment.rs"]
mod environment;
#[path = "template/iam.rs"]
mod iam;
#[path = "template/operations.rs"]
mod operations;
#[path = "template/parameters.rs"]
mod parameters;
#[path = "template/resources.rs"]
mod resources;
#[path = "template/schedules.rs"]
mod schedules;
