//! `lint`: everything that makes an SPF record fail or fragile, one line per problem.
