"""The agency directory: who may send and receive, kept on ``edx.agencies``.

:mod:`bus.directory.agencies` reads and writes the compacted topic (the in-memory
view, the follower of long-running services, the operators' writes);
:mod:`bus.directory.snapshot` keeps a file copy for brokers that forget it.
"""

from bus.directory.agencies import (
    Agency,
    AgencyDirectory,
    AgencyState,
    DirectoryFollower,
    certificate_fingerprints,
    load_directory,
    publish_agency,
    reinstate_agency,
    suspend_agency,
)
from bus.directory.snapshot import restore_directory_snapshot, save_directory_snapshot

__all__ = [
    "Agency",
    "AgencyDirectory",
    "AgencyState",
    "DirectoryFollower",
    "certificate_fingerprints",
    "load_directory",
    "publish_agency",
    "reinstate_agency",
    "restore_directory_snapshot",
    "save_directory_snapshot",
    "suspend_agency",
]
