//! Turn an observation and today's evaluations into a finding: class, reason, fix.
