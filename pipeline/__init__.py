"""gazette: Chinese government gazettes (PDF) and finance-news pages (HTML) into Parquet.

``pipeline`` is plain Python (no orchestration import); ``flows`` wraps it in Prefect.
"""

__version__ = "0.1.0"
# bump when a change alters any output row: `gazette reprocess --outdated` re-runs such documents
PIPELINE_VERSION = "12"
