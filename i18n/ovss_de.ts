<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de">
  <context>
    <name>OVSS</name>
    <message>
      <location filename="../ovss_plugin/dock.py" line="22" />
      <source>Some Python packages this plugin needs are missing: {names}. Install them with:
{command}
then restart QGIS.</source>
      <translation>Einige Python-Pakete, die dieses Plugin braucht, fehlen: {names}. Installieren Sie sie mit:
{command}
und starten Sie QGIS danach neu.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="30" />
      <source>Open-vocabulary land cover</source>
      <translation>Landbedeckung mit offenem Vokabular</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="45" />
      <source>Ready.</source>
      <translation>Bereit.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/plugin.py" line="34" />
      <source>Segment a raster into land-cover classes described in plain words</source>
      <translation>Ein Raster in Landbedeckungsklassen segmentieren, die in eigenen Worten beschrieben sind</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/plugin.py" line="37" />
      <source>&amp;OVSS Land Cover</source>
      <translation>&amp;OVSS Landbedeckung</translation>
    </message>
  </context>
</TS>
