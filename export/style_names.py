"""Names for the 26 built-in styles (the index stays a valid alias). The original model shipped none;
these describe what each style does to a photo (see the contact sheet: `sfumato styles --sheet`)."""

STYLE_NAMES = [
    "soft-pastel",          # 0  pale blue/yellow pastel wash
    "ink-comic",            # 1  heavy black outlines, flat yellow and white
    "smoky-pastel",         # 2  grey and peach, soft
    "electric-abstract",    # 3  vivid blue/red/yellow ribbons
    "red-gouache",          # 4  warm red and cream gouache
    "fauve",                # 5  orange/blue fauvist strokes
    "indigo-dots",          # 6  indigo with dotted texture
    "primary-blocks",       # 7  dark blue, red and yellow blocks
    "pink-sketch",          # 8  white paper, pink and teal lines
    "teal-mosaic",          # 9  teal pattern with red accents
    "umber-oil",            # 10 brown/orange oil
    "ochre-sketch",         # 11 cream paper, dark pencil lines
    "lavender-pastel",      # 12 purple and yellow pastel
    "green-expressionist",  # 13 green, yellow, red, teal
    "ice-wash",             # 14 pale frosted blue
    "stained-glass",        # 15 coloured cells with dark leading
    "blue-impasto",         # 16 thick blue strokes, yellow highlights
    "woven-bricks",         # 17 red/orange/blue rectangles
    "sepia-woodcut",        # 18 brown and cream woodcut
    "starry-blue",          # 19 blue and yellow swirls
    "crimson",              # 20 deep red and black
    "pop-cutout",           # 21 pale blue, pink and black cut paper
    "grey-ink",             # 22 grey ink with red accents
    "night-green",          # 23 dark green, low key
    "blue-fresco",          # 24 faded cream and blue fresco
    "bronze-mosaic",        # 25 small brown/orange/grey strokes
]
