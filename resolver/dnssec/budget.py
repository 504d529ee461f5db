"""Work budgets for validation (KeyTrap CVE-2023-50387, NSEC3 CVE-2023-50868).

The caller creates one :class:`Budget` per client query (or per zone check) and
passes it to every verification and NSEC3 hash. Exhausting it is not an exception:
the functions that take from it report BUDGET_EXCEEDED as a bogus verdict.
The limits themselves (defaults listed in docs/SECURITY.md s0) are settings:
:class:`resolver.config.ValidationLimits`.
"""

from __future__ import annotations

from ..config import ValidationLimits as Limits


class Budget:
    """Remaining verifications and NSEC3 hash work for one unit of work."""

    __slots__ = ("limits", "verifications", "hashes", "exhausted", "used_verifications",
                 "used_hashes")

    def __init__(self, limits: Limits | None = None, verifications: int | None = None,
                 hashes: int | None = None) -> None:
        self.limits = limits or Limits()
        self.verifications = self.limits.verifications if verifications is None else verifications
        self.hashes = self.limits.nsec3_hashes if hashes is None else hashes
        self.exhausted = False
        self.used_verifications = 0
        self.used_hashes = 0

    def take_verification(self) -> bool:
        """Account one signature verification; False when none is left."""
        if self.verifications <= 0:
            self.exhausted = True
            return False
        self.verifications -= 1
        self.used_verifications += 1
        return True

    def take_hashes(self, count: int = 1) -> bool:
        """Account *count* NSEC3 hash computations (each of iterations+1 SHA-1 runs)."""
        if self.hashes < count:
            self.exhausted = True
            return False
        self.hashes -= count
        self.used_hashes += count
        return True

    @classmethod
    def unlimited(cls) -> Budget:
        """For offline tools such as zone-check that must look at every signature."""
        big = 1 << 62
        return cls(Limits(sigs_per_rrset=big, keys_per_tag=big, verifications=big,
                          nsec3_hashes=big, nsec3_records=big, ds_per_zone=big))
