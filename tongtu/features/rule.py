"""The fixed numbers of the matching rule: one table, each with what it decides and the
measurement behind it. "Measured" says the value itself was varied or its effect read
on bench/hard or bench/quality (bench/README's section named); "with its check" says
the check it belongs to was measured as a whole (found and wrong with it on and off),
the value itself not varied; "by hand" says no measurement stands behind it. Moving one
is a change of the rule: measure it as the policy's bounds are.

The bounds that a draw has asked to move, that a setting or a test changes, are
`MatchPolicy`'s (features/policy.py): the score a match must reach, the pixels' median,
share and cells, the looks. The numbers here are the ones inside those checks: how a
block is cut and when it counts, how colours and places are read (docs/matching.md).

What a library stores is not here: the work image's size and its features' count
(features/local.py `WORK_SIDE`, `REF_FEATURES`, `QUERY_FEATURES`), the parts' boxes and
sizes (features/parts.py), the descriptor's input (features/descriptor.py) — changing those
changes what is stored, and asks for a re-index."""

from __future__ import annotations

import numpy as np

# ---- The score (features/score.py) -------------------------------------------------------
# A logistic model over the descriptor cosine and the log inlier count; its 0.5 level is
# the decision boundary: PIVOT_INLIERS inliers at PIVOT_COSINE, ~27 at cosine 0.3 (a
# screenshot), ~8 at cosine 0.9; a high cosine alone never reaches it, since look-alike
# photos of one scene reach 0.88-0.93 (docs/matching.md, "Score"). By hand: the
# weights and pivots were set when the score was written and never varied; what the
# benches move is the level a match must reach (`MatchPolicy.threshold`, the model's
# cosines put on one scale by bench/calibrate).
COSINE_WEIGHT = 4.0
INLIER_WEIGHT = 2.2
PIVOT_COSINE = 0.6
PIVOT_INLIERS = 15
# The share of a picture a match must cover to count as all of it (a near-exact copy
# rather than a part): by hand.
WHOLE = 0.85

# ---- The features' fit (features/local.py, features/guided.py) ---------------------------
# Lowe's ratio test on Hamming distances: Lowe's value for SIFT (2004), not varied
# here for ORB. By hand.
RATIO = 0.8
# Verification stops early when the reference features matched so far make the count a
# match needs improbable: after each checkpoint (a quarter, then a half of the reference
# features, taken evenly over their stored order), if fewer matched than
# P[Binomial(needed, fraction) ≤ matched] < HOPELESS allows. Most candidates of a search
# are other pictures and stop at the first checkpoint (over every pair bench/quality
# verifies: 38 % of the matching work left, no accepted match lost; verification 77 →
# 35 ms a search at 10,000 pictures). Measured.
HOPELESS = 1e-3
# A copy is scaled alike in every direction, or nearly (a phone photo's tilt, a picture
# made wider): a fit that stretches one direction this many times the other lays the
# reference over a sliver of the query or the query over one of it, along rows of text
# or a chart's gridlines that repeat (another window of one application, another slide
# of one template: stretched 5 to 470 times on bench/hard's draws). Served copies on the
# dev draws (seed 3) stretched at most 1.43 times (a phone photo). Measured: bench/README
# "Stretched and folded fits".
MAX_STRETCH = 4.0
# A fit is also refused where it scales the area by less than AREA_RATIO[0] or more than
# AREA_RATIO[1] (collapsed), or tilts the plane by MAX_PERSPECTIVE or more per pixel of
# the work image (wildly projective); where a similarity (scale, turn, shift) lays
# SIMILAR_FITS of the inliers within the RANSAC tolerance, it replaces the homography,
# which is free to tilt far from them and draw a wrong region. By hand.
AREA_RATIO = (1e-3, 1e3)
MAX_PERSPECTIVE = 0.01
SIMILAR_FITS = 0.9
# The guided check: a reference feature carried into the query finds a near one within
# GUIDE_RADIUS px of the query's work image, GUIDE_DISTANCE of 256 bits apart or closer
# (unrelated descriptors sit near 128); under GUIDE_MIN_FEATURES carried features that
# land on structure, it tells nothing. With its check (`MatchPolicy.guided`: copies
# ≥ 0.46, look-alikes ≤ 0.42 on the dev draw's 154 copies and 20 look-alikes); the 20 by
# hand.
GUIDE_RADIUS = 5.0
GUIDE_DISTANCE = 64
GUIDE_MIN_FEATURES = 20

# ---- The pixels (features/agreement.py) --------------------------------------------------
# The shared region is compared at no more than about PIXEL_SIDE pixels a side, and never
# above the resolution either image holds of it (a thumbnail of a 15 % crop's reference
# holds ~200 px of it); the fine detail at no more than DETAIL_SIDE, and not where the
# reference's footprint there (less its edge) holds under DETAIL_MIN_PIXELS pixels.
# With its check, as the block sizes and bounds below: the pixel rule on and off
# (copies 247 → 239, wrong 86 → 4 on the dev draw when it came; a copy's median ≥ 0.9,
# a mirrored half's 0.39); the fine detail's (blurred copies 0.10-0.42 of the
# reference's, look-alikes ≥ 0.81); the sizes and bounds themselves not varied.
PIXEL_SIDE = 128
DETAIL_SIDE = 384
DETAIL_MIN_PIXELS = 64
# Blocks of BLOCK × BLOCK pixels; the region's cells are a CELLS × CELLS grid of them, a
# cell counted where it holds CELL_MIN_BLOCKS textured blocks.
BLOCK = 8
CELLS = 6
CELL_MIN_BLOCKS = 2
# Band-pass: Gaussian σ (px at the comparison scale) of the detail kept and of the
# background removed.
BAND_FINE, BAND_COARSE = 1.0, 5.0
# A block counts where it holds TEXTURE on both sides (std of the band-passed grey
# levels), or STRONG_TEXTURE on either (detail one side lost: a caption over flat
# colour); under MIN_BLOCKS such blocks nothing is judged. A block agrees where its
# band-passed pixels correlate BLOCK_AGREES or better.
TEXTURE = 1.5
STRONG_TEXTURE = 4.0
MIN_BLOCKS = 8
BLOCK_AGREES = 0.5
# The Gaussian σ (px at the detail comparison's scale) the reference is blurred by, in
# turn, until it holds no more fine detail than a blurred query. With its check
# (bench/README "The coarse look": blurred copies 1.0, blurred look-alikes 0.48-0.92).
BLURS = (0.0, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)
# A block's mean grey level agrees within LEVEL_GAP grey levels of the fitted one
# (`MatchPolicy.levels`), the fit's contrast within LEVEL_CONTRAST. With its check
# (bench/README "Levels": copies 0.83-1.0, other themes 0.24-0.77).
LEVEL_GAP = 12.0
LEVEL_CONTRAST = (0.5, 2.0)

# ---- The colours (features/colour.py) ----------------------------------------------------
# Compared over a grid of COLOUR_GRID blocks a side; a block holds colour where its
# chroma (Cr or Cb, 0-255 scale, about grey) reaches COLOURED, agrees where the two
# differ by at most CHROMA_GAP, or RELATIVE_GAP of the reference's chroma times the
# fitted saturation where that is more (bright colours clip); under MIN_COLOURED such
# blocks tell nothing. A block is compared where the shared region covers
# COLOUR_BLOCK_COVER of it. With its check (bench/README "A match's colours": copies
# 0.71-1.0 on the dev draws, the wrong one 0.0; "A crop placed by its pixels": true
# crops 0.98-1.0, other fills 0.0-0.3); RELATIVE_GAP measured there.
COLOUR_GRID = 12
COLOUR_BLOCK_COVER = 0.99
COLOURED = 8.0
CHROMA_GAP = 10.0
RELATIVE_GAP = 0.3
MIN_COLOURED = 4
# A placed copy's saturation may be scaled within these bounds (a grey copy has no
# colour to compare): a slate fill is cyan at a sixth of its saturation, and no copy.
# With its check (as above).
PLACED_SATURATION = (0.5, 2.0)
# A match's: AugLy's saturation and colour jitter turn a copy's up by 2.5, and another
# theme's hues fit no factor at all. Measured (tests/test_colours.py's saturated copies).
LAID_SATURATION = (0.5, 3.0)
# The query is compared at no more than this many pixels a side (a grid's block means
# need no more). Measured: bench/README "A match's colours" (median 257 → 279 ms on
# bench/hard's screens for the check at this size, the same found and wrong).
COLOUR_SIDE = 256

# ---- The region's likeness (features/likeness.py) ----------------------------------------
# The query's part under a match is described again only where it is LIKENESS_MIN_SIDE px
# a side or more (less is no picture to describe). By hand.
LIKENESS_MIN_SIDE = 16

# ---- The placed look (features/placement.py, features/placed.py) -------------------------
# The coarse pass: the thumbnail seen at PLACE_SIDE px on its longer side, the query at
# PLACE_SIZES sizes. The fine pass: the best coarse size times each of PLACE_REFINE,
# searched within a few coarse pixels of the best coarse place, in the PLACES_REFINED
# candidates placed best roughly. With its check (bench/README "A crop placed by its
# pixels": crops of 10 and 15 % on the dev draws, screens 9 → 17 of 18); the values
# themselves not varied.
PLACE_SIDE = 160
PLACE_SIZES = 14
PLACE_REFINE = tuple(float(f) for f in np.linspace(0.9, 1.1, 11))
PLACES_REFINED = 3
# A template with less contrast than FLAT (std of grey levels) shows nothing to place,
# nor one under PLACE_MIN_SIDE px a side. With the placed look's check (as above).
FLAT = 2.0
PLACE_MIN_SIDE = 8
# Places whose correlation is this close to 1 are alike: resampling a thumbnail alone
# costs that much (one disc placed at two sub-pixel phases: 0.9936 and 0.9989).
# Measured (tests/test_placed_look.py: 17 → 24 of 32 crops found with it).
PEAK_NOISE = 0.01

# ---- The query's rectangles (features/regions.py) ----------------------------------------
# The search for rectangles runs at REGION_SIDE px (longer side): enough for borders of a
# few pixels, cheap (~5 ms). A region is 3-70 % of the query (smaller holds too few pixels
# to describe, larger is the picture itself) with sides of REGION_MIN_SIDE px at least,
# a contour filling REGION_FILL of its bounding box (a rectangle seen straight on). With
# its check (the picture in AugLy's web and mobile templates among the first two
# rectangles in 9 of 9 queries each, bench/hard's dev photos).
REGION_SIDE = 640
REGION_AREA = (0.03, 0.70)
REGION_MIN_SIDE = 48
REGION_FILL = 0.8
