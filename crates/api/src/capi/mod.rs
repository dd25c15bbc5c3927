//! The Cluster API types we read, generated with kopium.
