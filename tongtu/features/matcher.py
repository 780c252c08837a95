"""Is this the same picture, and where? Written once, for search, compare, the
duplicates route and `tongtu dedup` alike.

`Matcher.judge` decides one query against one reference's local features: the
features' fit (features/local.py), its score (features/score.py), the mirrored query
where the plain one falls short, and the pixel check (features/agreement.py).
`Matcher.match` decides a query against the references a search or a compare proposes,
with the looks of `MatchPolicy` for the ones refused: the aspect, coarse, second and
crop looks here, the placed look in features/placed.py."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tongtu.features.agreement import (
    Agreement,
    blurred_agreement,
    holds,
    measure,
    needs_pixels,
    rival_shares,
)
from tongtu.features.candidate import Gray, Query, Reference, ShapedQuery, Verdict
from tongtu.features.colour import laid_agreement
from tongtu.features.descriptor import unscaled
from tongtu.features.guided import guided_agreement, match_scale
from tongtu.features.likeness import Describe, region_cosine
from tongtu.features.local import NO_MATCH, LocalFeatures, Match, verify
from tongtu.features.placed import placed_look
from tongtu.features.policy import DEFAULT_POLICY, MatchPolicy
from tongtu.features.score import inliers_needed, rests_on_cosine, score

__all__ = ["DEFAULT_POLICY", "MatchPolicy", "Matcher", "Query", "Reference", "Verdict"]

# what `measure` compares of a verdict: the reference's pixels, its work size, the match
# at the query's own scale, the stretch undone
_Laid = tuple[Gray, tuple[int, int], Match, float]


@dataclass(frozen=True, slots=True)
class Matcher:
    """`describe`: the global descriptor of a picture, for the region's likeness
    (features/likeness.py; None: not tried); `scale`: the descriptor's cosines on the
    score's scale (features/descriptor.py, `cosine_scale`)."""

    policy: MatchPolicy = DEFAULT_POLICY
    describe: Describe | None = None
    scale: Callable[[float], float] = unscaled

    def judge(
        self,
        query: Query,
        ref: LocalFeatures,
        cosine: float,
        pixels: Callable[[], Gray | None],
        likeness: Callable[[Match], float | None] | None = None,
        fewest: int | None = None,
    ) -> Verdict:
        """The score of the reference against the query and the match behind it; the
        mirrored query is tried too when the plain one falls short or is thin, and the
        one with more inliers that passes its checks wins. Matching stops early where
        the inliers that would reach the threshold have become improbable.

        A match with a transform must also agree pixel by pixel with the reference's
        `pixels` where the two overlap (features/agreement.py): shared templates, fonts
        and mirror symmetry repeat a picture's features without its content. Without
        pixels (no thumbnail kept) the features alone decide.

        `likeness`: the cosine of the query and the reference's region a match lays
        over it (None: not asked). Where given, a match whose pixels agree must also
        reach `region_likeness` there (a look-alike's aligned region is another
        picture); with `fewest`, such a match needs only that many inliers, not the
        ones the whole picture's cosine asks for (a crop's is low), if its pixels agree
        in `region_share` of the blocks."""
        policy = self.policy
        threshold = policy.threshold
        cosine = self.scale(cosine)
        needed = inliers_needed(cosine, threshold)
        if likeness is not None and fewest is not None:
            needed = min(needed, fewest)
        gray = functools.cache(pixels)
        frames = (query.local.width, query.local.height), (ref.width, ref.height)
        plain = verify(query.local, ref, needed, policy.max_stretch)
        tried = [plain]
        # A mirrored copy can also align a few features unmirrored by chance: a thin
        # plain match does not spare the mirrored try, nor one refused on its pixels or
        # its region (a mirrored screen lays its symmetric panel over the reference's
        # unmirrored, and its wallpaper's levels disagree).
        flip = cosine >= policy.flip_min_cosine
        if flip and (score(cosine, plain) < threshold or rests_on_cosine(plain)):
            flip = False
            if (flipped := query.local_flipped) is not None:
                tried.append(verify(flipped, ref, needed, policy.max_stretch))

        def accepted(match: Match) -> Verdict | None:
            if match.query_region and max(match.query_cover, match.ref_cover) < policy.copy_cover:
                return None  # a part both pictures share, not one inside the other
            s = score(cosine, match)
            if likeness is None:
                if s >= threshold and self.agrees(query, ref, match, gray):
                    return Verdict(s, match, *frames)
                return None
            if s < threshold and (fewest is None or match.inliers < fewest):
                return None
            # fewer inliers than the cosine asks: the pixels must agree nearly everywhere
            share = None if s >= threshold else policy.region_share
            if not self.agrees(query, ref, match, gray, share):
                return None
            region = likeness(match)
            if region is None:  # no colour pixels kept: the features alone
                return Verdict(s, match, *frames) if s >= threshold else None
            if (region := self.scale(region)) >= policy.region_likeness:
                return Verdict(max(threshold, score(max(cosine, region), match)), match, *frames)
            return None

        for match in sorted(tried, key=lambda m: -m.inliers):
            if (verdict := accepted(match)) is not None:
                return verdict
        flipped = query.local_flipped if flip else None
        if flipped is not None:
            verdict = accepted(verify(flipped, ref, needed, policy.max_stretch))
            if verdict is not None:
                return verdict
        return Verdict(score(cosine, NO_MATCH), NO_MATCH, *frames)

    def match(self, query: ShapedQuery, refs: Sequence[Reference]) -> dict[int, Verdict]:
        """The references that are copies of the query (or it of them), by key.

        Each is judged on its stored features; then the closest refused one whose
        proportions differ from the query's is judged against the query reshaped to
        them (the aspect look), the closest refused ones that the descriptor calls the
        same picture with both seen small (the coarse look), and the closest refused ones
        in the second look's cosines on denser features (the second look: the
        thumbnail's, with the query seen small where the policy says so, then the
        parts'), and the closest refused ones above those cosines the same way, kept only
        where the query lies inside them (the crop look), or on the thumbnail's dense
        features alone, kept as any match (the whole look)."""
        policy = self.policy
        found: dict[int, Verdict] = {}
        refused: list[Reference] = []
        close: list[Reference] = []  # refused above the second look's cosines
        known: list[Reference] = []  # refused though the descriptor says "same"
        stretched: Reference | None = None
        pixels = {ref.key: functools.cache(ref.pixels) for ref in refs}
        for ref in refs:
            held = ref.cosine < policy.region_held_below
            likeness = self.likeness(query, ref.local, ref) if held else None
            verdict = self.judge(query, ref.local, ref.cosine, pixels[ref.key], likeness)
            if verdict.score >= policy.threshold:
                found[ref.key] = verdict
                continue
            if policy.second_look_for(ref.cosine):
                refused.append(ref)
            elif ref.cosine >= policy.second_look_cosines[1]:
                close.append(ref)
            if ref.cosine >= policy.coarse_look_min:
                known.append(ref)
            if (
                ref.cosine >= policy.aspect_look_min
                and (stretched is None or ref.cosine > stretched.cosine)
                and query.stretch_to(ref.width, ref.height) >= policy.aspect_gap
            ):
                stretched = ref
        if stretched is not None:
            reshaped = query.reshaped(stretched.width / stretched.height)
            verdict = self.judge(reshaped, stretched.local, stretched.cosine, pixels[stretched.key])
            if verdict.score >= policy.threshold:  # regions are in 0..1 of either shape
                found[stretched.key] = verdict
        for ref in sorted(known, key=lambda r: (-r.cosine, r.key))[: policy.coarse_look]:
            if ref.key in found:  # the aspect look took it
                continue
            side = policy.coarse_side
            coarse = ref.coarse(side)
            if coarse is None:
                continue
            view = query.seen_small(side)
            verdict = self.judge(view, coarse, ref.cosine, pixels[ref.key])
            if verdict.score >= policy.threshold and self._blurred_copy(
                query, verdict, pixels[ref.key]
            ):
                found[ref.key] = verdict  # a blurred copy, held at the finer scale

        # the closest `n` of `refs` that no look has taken yet (the aspect look may have)
        def closest(refs: list[Reference], n: int) -> list[Reference]:
            return sorted(
                (r for r in refs if r.key not in found), key=lambda r: (-r.cosine, r.key)
            )[:n]

        for ref in self._first_seen(query, closest(refused, len(refused))):
            second_verdict = self._second_look(query, ref, pixels[ref.key])
            if second_verdict is not None:
                found[ref.key] = second_verdict
        crops = policy.crop_look if policy.second_look > 0 else 0
        for i, ref in enumerate(closest(close, max(crops, policy.whole_look))):
            dense = self._dense_look(query, ref, pixels[ref.key])
            if dense is not None:  # a crop of it, or (the whole look) a copy of it all
                if (i < crops and self._inside(dense.match)) or (
                    i < policy.whole_look and self._whole(query, dense, pixels[ref.key])
                ):
                    found[ref.key] = dense
            elif i < crops:  # the crop look on the parts' features
                parts = self._parts_look(query, ref, pixels[ref.key])
                if parts is not None and self._inside(parts.match):
                    found[ref.key] = parts
        colours = {ref.key: ref.colour for ref in refs}  # the hues of every match so far
        found = {
            k: v for k, v in found.items() if self.hues_agree(lambda: query.rgb, colours[k], v)
        }
        if not found:  # a crop of one picture found is no crop of another
            near = closest([*refused, *close], policy.placed_look)
            placed = placed_look(self, query, near, pixels)
            if placed is not None:
                found[placed[0]] = placed[1]
        return found

    def _first_seen(self, query: ShapedQuery, refs: list[Reference]) -> list[Reference]:
        """The second look's `second_look` candidates of `refs` (closest first): with
        `parts_first`, those whose parts' features already hold most inliers with the
        query's own come first. A crop of one window of an application ranks behind
        its other windows on the whole picture's cosine (their frame is the crop's
        too), while its parts hold its content: on bench/hard's dev draw, a crop of 15 %
        ranked 6th of 6 at 47 inliers on its parts, the others none."""
        policy = self.policy
        n = policy.second_look
        if not policy.parts_first or not policy.parts_look or len(refs) <= n:
            return refs[:n]
        local = query.local

        def inliers(ref: Reference) -> int:
            parts = ref.parts()
            return 0 if parts is None else verify(local, parts).inliers

        held = {ref.key: inliers(ref) for ref in refs}
        return sorted(refs, key=lambda r: -held[r.key])[:n]  # stable: closest first

    def hues_agree(
        self,
        query: Callable[[], NDArray[np.uint8] | None],
        ref: Callable[[], NDArray[np.uint8] | None],
        verdict: Verdict,
    ) -> bool:
        """Whether the query's hues agree with the reference's (colour pixels, any
        scale; read only where asked) where the verdict's match lays one over the other,
        in `colours` of the reference's blocks holding colour (true where that cannot be
        told or is not asked: no colour pixels kept, a grey query, a grey reference)."""
        policy = self.policy
        if policy.colours <= 0.0 or not policy.check_pixels:
            return True  # not asked, or the features alone decide
        query_rgb, ref_rgb = query(), ref()
        if query_rgb is None or ref_rgb is None:
            return True
        hues = laid_agreement(
            query_rgb, ref_rgb, verdict.match, verdict.query_size, verdict.ref_size
        )
        return hues is None or hues >= policy.colours

    def _inside(self, match: Match) -> bool:
        """Whether a match lays the whole query over a part of the reference (the crop
        look's: `small_look_cover` of the query, at most `crop_look_cover` of it)."""
        policy = self.policy
        return (
            match.query_cover >= policy.small_look_cover
            and match.ref_cover <= policy.crop_look_cover
        )

    def _second_look(
        self, query: ShapedQuery, ref: Reference, pixels: Callable[[], Gray | None]
    ) -> Verdict | None:
        """One refused candidate judged again on denser features: its thumbnail's
        (`_dense_look`), then its parts' (`_parts_look`)."""
        return self._dense_look(query, ref, pixels) or self._parts_look(query, ref, pixels)

    def _dense_look(
        self, query: ShapedQuery, ref: Reference, pixels: Callable[[], Gray | None]
    ) -> Verdict | None:
        """A refused candidate judged on features found densely on its thumbnail, with
        the query also seen small (`small_look`); a copy needs only `region_min_inliers`
        where the region's likeness and the pixels say so."""
        policy = self.policy
        fewest = policy.region_min_inliers
        dense = ref.dense()
        if dense is None:
            return None
        likeness = self.likeness(query, dense, ref)
        verdict = self.judge(query, dense, ref.cosine, pixels, likeness, fewest)
        for side in policy.small_look:
            if verdict.score >= policy.threshold:
                break
            view = query.seen_small(side)
            likeness = self.likeness(view, dense, ref)
            small = self.judge(view, dense, ref.cosine, pixels, likeness, fewest)
            if small.match.query_cover >= policy.small_look_cover:
                verdict = small  # a crop lies inside its reference, all of it
        return verdict if verdict.score >= policy.threshold else None

    def _parts_look(
        self, query: ShapedQuery, ref: Reference, pixels: Callable[[], Gray | None]
    ) -> Verdict | None:
        """A refused candidate judged on its parts' features (a query that is a small
        crop of it, seen at the crop's own scale), where it keeps them."""
        parts = ref.parts() if self.policy.parts_look else None
        if parts is None:
            return None
        likeness = self.likeness(query, parts, ref)
        verdict = self.judge(
            query, parts, ref.cosine, pixels, likeness, self.policy.region_min_inliers
        )
        return verdict if verdict.score >= self.policy.threshold else None

    def _whole(self, query: Query, verdict: Verdict, pixels: Callable[[], Gray | None]) -> bool:
        """Whether the whole look's match holds: the pixels agree in `whole_share` of the
        textured blocks it lays over each other (a copy refused for fitting its stored
        features loosely agrees nearly everywhere once fitted densely; another chart of
        one template agrees on its frame, not on its data), and where the query is
        blurrier than the reference, at the finer scale too (`_finer`)."""
        laid = self._laid(query, verdict, pixels)
        found = None if laid is None else measure(query.gray, *laid)
        if laid is None or found is None or found.share < self.policy.whole_share:
            return False
        return self._finer(query, laid, found) is not False

    def _blurred_copy(
        self, query: Query, verdict: Verdict, pixels: Callable[[], Gray | None]
    ) -> bool:
        """Whether the coarse look's match is a blurred copy's: the query blurrier than
        the reference where it lays one over the other, and held at the finer scale."""
        laid = self._laid(query, verdict, pixels)
        return laid is not None and self._finer(query, laid, measure(query.gray, *laid)) is True

    def _laid(
        self, query: Query, verdict: Verdict, pixels: Callable[[], Gray | None]
    ) -> _Laid | None:
        """What `measure` compares of a verdict (the reference's pixels, its work size,
        the match at the query's own scale, the stretch undone), or None without them."""
        gray = pixels()
        match = verdict.match
        if gray is None or match.homography is None:
            return None
        seen_w, seen_h = verdict.query_size
        to_full = np.diag([query.local.width / seen_w, query.local.height / seen_h, 1.0])
        full = dataclasses.replace(match, homography=to_full @ match.homography)
        return gray, verdict.ref_size, full, self.policy.stretch_undone(query)

    def _finer(self, query: Query, laid: _Laid, found: Agreement | None) -> bool | None:
        """Whether a match on a blurred query holds at the finer scale: True where the
        query holds less than `coarse_detail` of the reference's fine detail where the
        match lays one over the other (`found`) and the blocks agree in `coarse_share`
        with the reference blurred as much (`blurred_agreement`); False where it is
        that blurred and they do not; None where it is not (or nothing can be told):
        nothing the blur hides. A look-alike blurred alike agrees seen small or densely
        (other words in one font); at the finer scale its words differ."""
        if found is None or found.detail() >= self.policy.coarse_detail:
            return None
        fine = blurred_agreement(query.gray, *laid)
        return fine is not None and fine.share >= self.policy.coarse_share

    def rivals(
        self,
        query: Query,
        a: tuple[Verdict, Callable[[], Gray | None]],
        b: tuple[Verdict, Callable[[], Gray | None]],
    ) -> tuple[float, float, int] | None:
        """Which of two references (each a verdict on the query and its pixels) the query
        shows where they differ over the part of it both lie on (`rival_shares`), or None
        where that cannot be told (no pixels kept, no common part)."""
        laid_a, laid_b = self._laid(query, *a), self._laid(query, *b)
        if laid_a is None or laid_b is None:
            return None
        return rival_shares(query.gray, laid_a[:3], laid_b[:3])

    def likeness(
        self, query: ShapedQuery, ref: LocalFeatures, candidate: Reference
    ) -> Callable[[Match], float | None] | None:
        """The region's likeness of one candidate, where the policy asks for it."""
        describe = self.describe
        policy = self.policy
        if not policy.check_pixels or policy.region_likeness <= 0.0 or describe is None:
            return None  # the features alone decide, or the whole picture's cosine
        if min(query.rgb.shape[:2]) < policy.region_min_side:
            return None  # the descriptor would see it enlarged more than twice

        def likeness(match: Match) -> float | None:
            colour = candidate.colour()
            if colour is None:
                return None
            return region_cosine(query, ref, match, colour, describe)

        return likeness

    def agrees(
        self,
        query: Query,
        ref: LocalFeatures,
        match: Match,
        pixels: Callable[[], Gray | None],
        share: float | None = None,
    ) -> bool:
        """The pixel check where the reference's pixels are kept, and the guided check
        where the scales match, in the blocks whose pixels agree; for every match with a
        transform, unless the policy lets the features alone decide. `share`: the pixels
        must be kept and agree in at least this share of the textured blocks."""
        if not needs_pixels(match, self.policy):
            return share is None
        assert match.homography is not None
        gray = pixels()
        found = None
        if gray is not None:
            stretched = self.policy.stretch_undone(query)
            found = measure(query.gray, gray, (ref.width, ref.height), match, stretched)
            if not holds(found, match, self.policy):
                return False
        if share is not None and (found is None or found.share < share):
            return False
        low, high = self.policy.guided_scales
        if not low <= match_scale(query.local, ref, match) <= high:
            return True  # the query found its features at other scales
        if found is not None and found.detail() < self.policy.guided_detail:
            return True  # a blurred query's descriptors differ, copy or not
        guide = query.guide(match.flipped)
        if guide is None:
            return True
        share = guided_agreement(
            guide, ref, match.homography, None if found is None else found.agree_at
        )
        return share is None or share >= self.policy.guided
