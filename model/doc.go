// Package model is the data every step of the pipeline shares: spans and
// their IDs, the catalog that interns operation names and kept attributes,
// data-quality warnings, and the dataset a load produces. Readers in
// sources and live fill it; analyze, snapshot, redact and report read it.
// It imports nothing of this project, so any layer can depend on it.
package model
