"""Parley's files service: what an upload is (decided from its content), images cleaned of
their metadata, and blobs kept in object storage behind a port."""
