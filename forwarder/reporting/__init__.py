"""Reporting: TikTok report rows as exact decimals, KPIs from sums, blended ROAS and the forwarding audit (issue 16).

Pure functions over plain data: the puller, the store tables and the views come later and feed these.
"""
