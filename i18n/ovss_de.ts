<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de">
  <context>
    <name>OVSS</name>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="91" />
      <source>The dataset's background class (SegEarth-OV assigns low-confidence pixels to it)</source>
      <translation>Die Hintergrundklasse des Datensatzes (SegEarth-OV weist ihr Pixel mit geringer Konfidenz zu)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="89" />
      <source>Name</source>
      <translation>Name</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="89" />
      <source>Prompts (comma-separated)</source>
      <translation>Prompts (durch Kommas getrennt)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="89" />
      <source>Colour</source>
      <translation>Farbe</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="89" />
      <source>Bg</source>
      <translation>Hg</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="69" />
      <source>At least two classes are needed (there are {count}).</source>
      <translation>Es werden mindestens zwei Klassen benötigt (vorhanden: {count}).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="49" />
      <source>Class {number} is empty: give it a name or a prompt.</source>
      <translation>Klasse {number} ist leer: Geben Sie ihr einen Namen oder einen Prompt.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="54" />
      <source>Duplicate class name “{name}” (classes {first} and {second}).</source>
      <translation>Doppelter Klassenname „{name}“ (Klassen {first} und {second}).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="61" />
      <source>Only one class can be the background (classes {first} and {second}).</source>
      <translation>Nur eine Klasse kann der Hintergrund sein (Klassen {first} und {second}).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/classes_table.py" line="67" />
      <source>Class {number}: {reason}</source>
      <translation>Klasse {number}: {reason}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="70" />
      <source>QGIS's Python lacks packages this plugin needs: {names}. The plugin can install them into its own Python environment (below); QGIS's Python stays unchanged.</source>
      <translation>QGIS' Python fehlen Pakete, die dieses Plugin braucht: {names}. Das Plugin kann sie in seine eigene Python-Umgebung installieren (unten); QGIS' Python bleibt unverändert.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="78" />
      <source>Open-vocabulary land cover</source>
      <translation>Landbedeckung mit offenem Vokabular</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="105" />
      <source>OVSS_WEIGHTS=random is set: the models use RANDOM weights. Results are a pipeline check, not a real segmentation.</source>
      <translation>OVSS_WEIGHTS=random ist gesetzt: Die Modelle verwenden ZUFÄLLIGE Gewichte. Die Ergebnisse sind ein Test der Verarbeitungskette, keine echte Segmentierung.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="236" />
      <source>Choose a raster layer.</source>
      <translation>Wählen Sie einen Rasterlayer.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="238" />
      <source>No segmentation method is registered.</source>
      <translation>Es ist keine Segmentierungsmethode registriert.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="486" />
      <source>Save report</source>
      <translation>Bericht speichern</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="486" />
      <source>HTML report (*.html)</source>
      <translation>HTML-Bericht (*.html)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="502" />
      <source>Model weights missing.</source>
      <translation>Modellgewichte fehlen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="547" />
      <source>Weights folder</source>
      <translation>Gewichte-Ordner</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="162" />
      <source>Ready.</source>
      <translation>Bereit.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="186" />
      <source>Runs on: finding the device…</source>
      <translation>Läuft auf: Gerät wird ermittelt…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="404" />
      <source>Cancelling…</source>
      <translation>Wird abgebrochen…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="429" />
      <source>Cancelled; nothing was written.</source>
      <translation>Abgebrochen; es wurde nichts geschrieben.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="436" />
      <source>Failed.</source>
      <translation>Fehlgeschlagen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="459" />
      <source>Added “{name}”.</source>
      <translation>„{name}“ hinzugefügt.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="461" />
      <source>Random weights: not a real segmentation.</source>
      <translation>Zufällige Gewichte: keine echte Segmentierung.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="528" />
      <source>Every checkpoint of this method is already on disk.</source>
      <translation>Alle Checkpoints dieser Methode sind bereits auf dem Datenträger vorhanden.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="167" />
      <source>The Python environment is ready ({python}). Restart QGIS (or reload the plugin) to use it.</source>
      <translation>Die Python-Umgebung ist bereit ({python}). Starten Sie QGIS neu (oder laden Sie das Plugin neu), um sie zu verwenden.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="193" />
      <source>Runs on: {device}</source>
      <translation>Läuft auf: {device}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="420" />
      <source>{done} of {total} tiles, {left} left</source>
      <translation>{done} von {total} Kacheln, noch {left}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="453" />
      <source>Done: {tiles} tiles in {time}.</source>
      <translation>Fertig: {tiles} Kacheln in {time}.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="495" />
      <source>Report saved to {path}.</source>
      <translation>Bericht gespeichert unter {path}.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/dock.py" line="183" />
      <source>Device: {problem}</source>
      <translation>Gerät: {problem}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/engine_runtime.py" line="134" />
      <source>Runs in a separate Python ({python}); device: {device}</source>
      <translation>Läuft in einem separaten Python ({python}); Gerät: {device}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/engine_runtime.py" line="135" />
      <source>known after the first run</source>
      <translation>nach dem ersten Lauf bekannt</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="78" />
      <source>Python environment</source>
      <translation>Python-Umgebung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="87" />
      <source>I agree to download and install these packages</source>
      <translation>Ich stimme zu, diese Pakete herunterzuladen und zu installieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="90" />
      <source>Set up the environment</source>
      <translation>Umgebung einrichten</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="91" />
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="101" />
      <source>Open log</source>
      <translation>Protokoll öffnen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="102" />
      <source>Diagnostics…</source>
      <translation>Diagnose…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="104" />
      <source>Use existing environment…</source>
      <translation>Vorhandene Umgebung verwenden…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="158" />
      <source>Starting…</source>
      <translation>Wird gestartet…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="159" />
      <source>Land cover: setting up the Python environment</source>
      <translation>Landbedeckung: Python-Umgebung wird eingerichtet</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="169" />
      <source>Land cover: checking a Python environment</source>
      <translation>Landbedeckung: Python-Umgebung wird geprüft</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="197" />
      <source>Save diagnostics</source>
      <translation>Diagnose speichern</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="198" />
      <source>Text files (*.txt)</source>
      <translation>Textdateien (*.txt)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="207" />
      <source>Python of an existing environment</source>
      <translation>Python einer vorhandenen Umgebung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="69" />
      <source>Cancelled.</source>
      <translation>Abgebrochen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="202" />
      <source>Diagnostics saved to {path}.</source>
      <translation>Diagnose gespeichert in {path}.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="165" />
      <source>Checking {python}</source>
      <translation>Prüfe {python}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="182" />
      <source>Ready: the engine runs with {python}.</source>
      <translation>Bereit: Die Engine läuft mit {python}.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/environment_panel.py" line="191" />
      <source>No install log yet ({path}).</source>
      <translation>Noch kein Installationsprotokoll ({path}).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/heavy_imports.py" line="57" />
      <source>Land cover: loading the engine</source>
      <translation>Landbedeckung: Engine wird geladen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/heavy_imports.py" line="70" />
      <source>the engine could not be loaded</source>
      <translation>die Engine konnte nicht geladen werden</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="110" />
      <source>The input layer is not valid (its data source cannot be opened).</source>
      <translation>Der Eingabelayer ist ungültig (seine Datenquelle kann nicht geöffnet werden).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="185" />
      <source>The layer's data provider cannot be read block by block.</source>
      <translation>Der Datenanbieter des Layers kann nicht blockweise gelesen werden.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="196" />
      <source>Stopped while reading the layer; no output written.</source>
      <translation>Beim Lesen des Layers angehalten; es wurde keine Ausgabe geschrieben.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="90" />
      <source>The chosen area does not overlap the layer “{name}”.</source>
      <translation>Der gewählte Bereich überlappt den Layer „{name}“ nicht.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="117" />
      <source>The layer “{name}” ({provider}) has no pixel size to read it at; save it as a GeoTIFF first (Export &gt; Save As).</source>
      <translation>Der Layer „{name}“ ({provider}) hat keine Pixelgröße, in der er gelesen werden kann; speichern Sie ihn zuerst als GeoTIFF (Exportieren &gt; Speichern als).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="128" />
      <source>The area is {columns} x {rows} pixels at the layer's resolution, too large to read through QGIS; choose a smaller area (map extent or a drawn extent).</source>
      <translation>Der Bereich ist bei der Auflösung des Layers {columns} x {rows} Pixel groß und damit zu groß, um ihn über QGIS zu lesen; wählen Sie einen kleineren Bereich (Kartenausdehnung oder eine gezeichnete Ausdehnung).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="155" />
      <source>The map extent does not overlap the layer “{name}”.</source>
      <translation>Der Kartenausschnitt überschneidet den Layer „{name}“ nicht.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/layer_source.py" line="197" />
      <source>Reading the layer through QGIS failed (error {code}).</source>
      <translation>Das Lesen des Layers über QGIS ist fehlgeschlagen (Fehler {code}).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/area_table.py" line="88" />
      <source>Change against the previous preview, in percentage points</source>
      <translation>Änderung gegenüber der vorigen Vorschau, in Prozentpunkten</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/area_table.py" line="87" />
      <source>Class</source>
      <translation>Klasse</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/area_table.py" line="87" />
      <source>ha</source>
      <translation>ha</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/area_table.py" line="118" />
      <source>new</source>
      <translation>neu</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/area_table.py" line="115" />
      <source>Value {value}: {pixels} pixels</source>
      <translation>Wert {value}: {pixels} Pixel</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="45" />
      <source>Classes</source>
      <translation>Klassen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="84" />
      <source>— choose a preset —</source>
      <translation>— Voreinstellung wählen —</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="133" />
      <source>Classes as text</source>
      <translation>Klassen als Text</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="133" />
      <source>One class per line or separated by ';', prompts by ',', an optional 'Name:' prefix:</source>
      <translation>Eine Klasse pro Zeile oder durch ';' getrennt, Prompts durch ',', optional mit vorangestelltem 'Name:':</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="161" />
      <source>Save preset</source>
      <translation>Voreinstellung speichern</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="161" />
      <source>Preset name:</source>
      <translation>Name der Voreinstellung:</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="164" />
      <source>Saved from the OVSS dock</source>
      <translation>Aus dem OVSS-Dock gespeichert</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="178" />
      <source>Rename preset</source>
      <translation>Voreinstellung umbenennen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="178" />
      <source>New name:</source>
      <translation>Neuer Name:</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="201" />
      <source>Import preset</source>
      <translation>Voreinstellung importieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="201" />
      <source>Presets (*.json)</source>
      <translation>Voreinstellungen (*.json)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="219" />
      <source>Export preset</source>
      <translation>Voreinstellung exportieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="149" />
      <source>Choose one of your own presets first.</source>
      <translation>Wählen Sie zuerst eine Ihrer eigenen Voreinstellungen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="54" />
      <source>Save</source>
      <translation>Speichern</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="55" />
      <source>Rename</source>
      <translation>Umbenennen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="56" />
      <source>Delete</source>
      <translation>Löschen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="57" />
      <source>Import</source>
      <translation>Importieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="58" />
      <source>Export</source>
      <translation>Exportieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="64" />
      <source>Add</source>
      <translation>Hinzufügen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="65" />
      <source>Remove</source>
      <translation>Entfernen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="66" />
      <source>Up</source>
      <translation>Nach oben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="67" />
      <source>Down</source>
      <translation>Nach unten</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="68" />
      <source>Paste as text…</source>
      <translation>Als Text einfügen…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="93" />
      <source>{name} (mine)</source>
      <translation>{name} (eigene)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/classes_panel.py" line="194" />
      <source>Delete the preset “{name}”?</source>
      <translation>Die Voreinstellung „{name}“ löschen?</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/dialogs.py" line="52" />
      <source>Land cover</source>
      <translation>Landbedeckung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="36" />
      <source>Input</source>
      <translation>Eingabe</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="43" />
      <source>Raster</source>
      <translation>Raster</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="64" />
      <source>Area</source>
      <translation>Bereich</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="52" />
      <source>Bands R, G, B</source>
      <translation>Bänder R, G, B</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="60" />
      <source>Whole layer</source>
      <translation>Gesamter Layer</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="60" />
      <source>Current map extent</source>
      <translation>Aktuelle Kartenausdehnung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="61" />
      <source>Drawn or chosen extent</source>
      <translation>Gezeichnete oder gewählte Ausdehnung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="92" />
      <source>Draw or choose an extent first.</source>
      <translation>Zeichnen oder wählen Sie zuerst eine Ausdehnung.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="112" />
      <source>The layer has {count} band(s): band {band} is used as red, green and blue.</source>
      <translation>Der Layer hat {count} Band/Bänder: Band {band} wird für Rot, Grün und Blau verwendet.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/input_panel.py" line="115" />
      <source>Uses band {red} as red, band {green} as green, band {blue} as blue.</source>
      <translation>Verwendet Band {red} als Rot, Band {green} als Grün, Band {blue} als Blau.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/method_panel.py" line="28" />
      <source>Method</source>
      <translation>Methode</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/method_panel.py" line="46" />
      <source>Method parameters</source>
      <translation>Parameter der Methode</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/method_panel.py" line="52" />
      <source>Reset all to the defaults</source>
      <translation>Alle auf die Standardwerte zurücksetzen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/method_panel.py" line="54" />
      <source>The method's defaults, or the chosen preset's values</source>
      <translation>Die Standardwerte der Methode oder die Werte der gewählten Vorlage</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="28" />
      <source>Output</source>
      <translation>Ausgabe</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="31" />
      <source>Temporary layer</source>
      <translation>Temporärer Layer</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="33" />
      <source>GeoTIFF file</source>
      <translation>GeoTIFF-Datei</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="44" />
      <source>GeoTIFF (*.tif *.tiff)</source>
      <translation>GeoTIFF (*.tif *.tiff)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="49" />
      <source>Also write a confidence raster</source>
      <translation>Zusätzlich ein Konfidenzraster schreiben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="52" />
      <source>Also write polygons (.gpkg)</source>
      <translation>Auch Polygone schreiben (.gpkg)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="54" />
      <source>One polygon per connected area of a class, with its class name and area in m², styled like the classes; written beside them as .gpkg</source>
      <translation>Ein Polygon pro zusammenhängendem Gebiet einer Klasse, mit Klassenname und Fläche in m², gestaltet wie die Klassen; daneben als .gpkg geschrieben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="70" />
      <source>Choose the output GeoTIFF file, or a temporary layer.</source>
      <translation>Wählen Sie die Ausgabe-GeoTIFF-Datei oder einen temporären Layer.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/output_panel.py" line="84" />
      <source>Replace {files}? Layers showing them are removed from the project.</source>
      <translation>{files} ersetzen? Layer, die diese Dateien anzeigen, werden aus dem Projekt entfernt.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/params_form.py" line="42" />
      <source>none</source>
      <translation>keiner</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/params_form.py" line="57" />
      <source>Reset to the default ({value})</source>
      <translation>Auf den Standardwert zurücksetzen ({value})</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/params_form.py" line="53" />
      <source>Default: {value}</source>
      <translation>Standard: {value}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/params_form.py" line="110" />
      <source>Parameter value {text!r} is not valid JSON.</source>
      <translation>Der Parameterwert {text!r} ist kein gültiges JSON.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="25" />
      <source>Processing</source>
      <translation>Verarbeitung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="33" />
      <source>The raster is segmented in square tiles of this size.</source>
      <translation>Das Raster wird in quadratischen Kacheln dieser Größe segmentiert.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="34" />
      <source>Tile size</source>
      <translation>Kachelgröße</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="39" />
      <source>Neighbouring tiles overlap by this much, so no seams show.</source>
      <translation>So weit überlappen benachbarte Kacheln, damit keine Nähte sichtbar sind.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="40" />
      <source>Tile overlap</source>
      <translation>Kachelüberlappung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="44" />
      <source>automatic</source>
      <translation>automatisch</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="46" />
      <source>Tiles per model call: larger batches keep a GPU busy; automatic takes as many as fit the free memory. The result does not change.</source>
      <translation>Kacheln pro Modellaufruf: größere Stapel lasten eine GPU aus; automatisch nimmt so viele, wie in den freien Speicher passen. Das Ergebnis ändert sich nicht.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="49" />
      <source>Batch size (tiles)</source>
      <translation>Stapelgröße (Kacheln)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="53" />
      <source>Precision</source>
      <translation>Genauigkeit</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="57" />
      <source>Device</source>
      <translation>Gerät</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="64" />
      <source>Keep models loaded between runs</source>
      <translation>Modelle zwischen den Durchläufen geladen lassen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/processing_options.py" line="68" />
      <source>Free models</source>
      <translation>Modelle freigeben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="24" />
      <source>Run</source>
      <translation>Ausführen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="33" />
      <source>Preview map extent</source>
      <translation>Vorschau Ausschnitt</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="35" />
      <source>Run the current classes on the visible map extent at screen resolution into the temporary layer “OVSS preview” (replaced by the next preview)</source>
      <translation>Die aktuellen Klassen auf dem sichtbaren Kartenausschnitt in Bildschirmauflösung rechnen, in den temporären Layer „OVSS-Vorschau“ (die nächste Vorschau ersetzt ihn)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="39" />
      <source>Toggle</source>
      <translation>Wechseln</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="41" />
      <source>Show the other of the last two previews</source>
      <translation>Die andere der beiden letzten Vorschauen zeigen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="57" />
      <source>Save report…</source>
      <translation>Bericht speichern…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/run_panel.py" line="59" />
      <source>One HTML page with the map, legend, areas and the run's settings</source>
      <translation>Eine HTML-Seite mit Karte, Legende, Flächen und den Einstellungen des Laufs</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/weights_help.py" line="19" />
      <source>Model weights missing</source>
      <translation>Modellgewichte fehlen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/weights_help.py" line="27" />
      <source>Download…</source>
      <translation>Herunterladen…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/panels/weights_help.py" line="28" />
      <source>Choose weights folder…</source>
      <translation>Gewichte-Ordner wählen…</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/plugin.py" line="54" />
      <source>Segment a raster into land-cover classes described in plain words</source>
      <translation>Ein Raster in Landbedeckungsklassen segmentieren, die in eigenen Worten beschrieben sind</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/plugin.py" line="57" />
      <source>&amp;OVSS Land Cover</source>
      <translation>&amp;OVSS Landbedeckung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/preview.py" line="32" />
      <source>A preview needs the QGIS map canvas.</source>
      <translation>Eine Vorschau braucht die QGIS-Kartenansicht.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/preview.py" line="62" />
      <source>OVSS preview</source>
      <translation>OVSS-Vorschau</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/preview.py" line="73" />
      <source>OVSS preview (previous)</source>
      <translation>OVSS-Vorschau (vorige)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/preview.py" line="65" />
      <source>QGIS cannot open the preview {path}.</source>
      <translation>QGIS kann die Vorschau {path} nicht öffnen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="42" />
      <source>Download model weights</source>
      <translation>Modellgewichte herunterladen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="46" />
      <source>Downloads the checkpoints the chosen method needs into the weights folder (default: the folder the plugin searches). Interrupted downloads resume; files are checked against their published sha256 where there is one. Files already in the folder are not downloaded again.</source>
      <translation>Lädt die Checkpoints, die die gewählte Methode benötigt, in den Gewichte-Ordner herunter (Standard: der Ordner, den das Plugin durchsucht). Unterbrochene Downloads werden fortgesetzt; Dateien werden, sofern vorhanden, gegen ihre veröffentlichte sha256-Prüfsumme geprüft. Bereits im Ordner vorhandene Dateien werden nicht erneut heruntergeladen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="65" />
      <source>Checkpoint files</source>
      <translation>Checkpoint-Dateien</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="79" />
      <source>Checkpoint {} ({} of {})</source>
      <translation>Checkpoint {} ({} von {})</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="93" />
      <source>{} is at {}</source>
      <translation>{} liegt unter {}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/download_weights.py" line="96" />
      <source>Method {} needs no checkpoint</source>
      <translation>Methode {} benötigt keinen Checkpoint</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="333" />
      <source>Assess classification accuracy</source>
      <translation>Klassifikationsgenauigkeit bewerten</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="337" />
      <source>Compares a classified raster (value k+1 = class k, 0 = nodata) with a reference land-cover raster; only the area both cover is compared. A reference in another CRS or on another pixel grid is reprojected on the fly onto the classified grid (nearest neighbour; the log says so); the same CRS written differently (names, TOWGS84) counts as the same.&lt;br&gt;&lt;b&gt;Class mapping&lt;/b&gt;: a table, one row per reference value with its class (the class's value 1..K or its name), e.g. 1 &amp;rarr; 1, 2 &amp;rarr; building; several reference values may map to one class; reference values not listed, reference nodata and unclassified pixels are ignored. Empty: reference value k+1 is class k. The table starts with the last mapping used; qgis_process also takes the text form &lt;tt&gt;MAPPING="1:1, 2:2, 3:building"&lt;/tt&gt;.&lt;br&gt;Gives the confusion matrix, overall accuracy, Cohen's kappa, per-class IoU and mIoU as a table (one row per class and an 'all classes' row) and an HTML report.</source>
      <translation>Vergleicht ein klassifiziertes Raster (Wert k+1 = Klasse k, 0 = NoData) mit einem Referenz-Landbedeckungsraster; verglichen wird nur der Bereich, den beide abdecken. Eine Referenz in einem anderen KBS oder auf einem anderen Pixelraster wird im Lauf auf das klassifizierte Raster umprojiziert (nächster Nachbar; das Protokoll vermerkt es); dasselbe KBS in anderer Schreibweise (Namen, TOWGS84) gilt als dasselbe.&lt;br&gt;&lt;b&gt;Klassenzuordnung&lt;/b&gt;: eine Tabelle mit einer Zeile je Referenzwert und seiner Klasse (Wert 1..K oder Name der Klasse), z. B. 1 &amp;rarr; 1, 2 &amp;rarr; building; mehrere Referenzwerte können derselben Klasse zugeordnet werden; nicht aufgeführte Referenzwerte, Referenz-NoData und nicht klassifizierte Pixel werden ignoriert. Leer: Referenzwert k+1 ist Klasse k. Die Tabelle beginnt mit der zuletzt verwendeten Zuordnung; qgis_process nimmt auch die Textform &lt;tt&gt;MAPPING="1:1, 2:2, 3:building"&lt;/tt&gt; an.&lt;br&gt;Liefert die Konfusionsmatrix, die Gesamtgenauigkeit, Cohens Kappa, die IoU je Klasse und die mIoU als Tabelle (eine Zeile je Klasse und eine Zeile 'all classes') sowie einen HTML-Bericht.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="294" />
      <source>Accuracy assessment</source>
      <translation>Genauigkeitsbewertung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="298" />
      <source>Classified raster</source>
      <translation>Klassifiziertes Raster</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="298" />
      <source>Reference raster</source>
      <translation>Referenzraster</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="299" />
      <source>Evaluated pixels</source>
      <translation>Ausgewertete Pixel</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="300" />
      <source>Overall accuracy</source>
      <translation>Gesamtgenauigkeit</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="301" />
      <source>Kappa</source>
      <translation>Kappa</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="303" />
      <source>Mean accuracy</source>
      <translation>Mittlere Genauigkeit</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="304" />
      <source>Per class</source>
      <translation>Je Klasse</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="305" />
      <source>Value</source>
      <translation>Wert</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="305" />
      <source>Producer's accuracy</source>
      <translation>Herstellergenauigkeit</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="306" />
      <source>User's accuracy</source>
      <translation>Nutzergenauigkeit</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="306" />
      <source>Reference pixels</source>
      <translation>Referenzpixel</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="306" />
      <source>Predicted pixels</source>
      <translation>Vorhergesagte Pixel</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="308" />
      <source>Confusion matrix (rows: reference, columns: classified)</source>
      <translation>Konfusionsmatrix (Zeilen: Referenz, Spalten: klassifiziert)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="358" />
      <source>Class mapping</source>
      <translation>Klassenzuordnung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="365" />
      <source>Accuracy table</source>
      <translation>Genauigkeitstabelle</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="369" />
      <source>HTML report</source>
      <translation>HTML-Bericht</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="369" />
      <source>HTML files (*.html)</source>
      <translation>HTML-Dateien (*.html)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="374" />
      <source>mIoU</source>
      <translation>mIoU</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="383" />
      <source>Both the classified and the reference raster are needed</source>
      <translation>Sowohl das klassifizierte Raster als auch das Referenzraster werden benötigt</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="387" />
      <source>Class mapping (reference value:class): {}</source>
      <translation>Klassenzuordnung (Referenzwert:Klasse): {}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="387" />
      <source>value k+1 = class k</source>
      <translation>Wert k+1 = Klasse k</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="413" />
      <source>Overall accuracy {:.4f}, kappa {:.4f}, mIoU {:.4f}</source>
      <translation>Gesamtgenauigkeit {:.4f}, Kappa {:.4f}, mIoU {:.4f}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="359" />
      <source>Reference value</source>
      <translation>Referenzwert</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/evaluate.py" line="359" />
      <source>Class (value or name)</source>
      <translation>Klasse (Wert oder Name)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="36" />
      <source>Polygonize classified raster</source>
      <translation>Klassifiziertes Raster polygonisieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="40" />
      <source>Turns a classified raster (value = class, 0 = nodata) into a GeoPackage of polygons, one per connected region of a class, with the class value, class name, area (m2, on the ellipsoid for a geographic CRS) and, with a confidence raster, the mean confidence. Class names and colours come from the raster's colour table and category names or its QGIS style.&lt;br&gt;&lt;b&gt;Minimum area&lt;/b&gt;: regions smaller than this (m2, or pixels written as e.g. 20px) are merged into their largest neighbour first.&lt;br&gt;&lt;b&gt;Simplification&lt;/b&gt;: tolerance in map units; shared boundaries are simplified once, so neighbouring polygons keep no gaps or overlaps.&lt;br&gt;&lt;b&gt;Uncertain class&lt;/b&gt;: pixels whose confidence (%) is below the threshold form the class 'uncertain' (value 255).</source>
      <translation>Wandelt ein klassifiziertes Raster (Wert = Klasse, 0 = NoData) in ein GeoPackage aus Polygonen um, eines pro zusammenhängendem Gebiet einer Klasse, mit Klassenwert, Klassenname, Fläche (m2, auf dem Ellipsoid bei einem geografischen KBS) und, mit einem Konfidenzraster, der mittleren Konfidenz. Klassennamen und Farben stammen aus der Farbtabelle und den Kategorienamen des Rasters oder aus seinem QGIS-Stil.&lt;br&gt;&lt;b&gt;Mindestfläche&lt;/b&gt;: kleinere Gebiete (m2, oder Pixel als z. B. 20px) werden zuerst ihrem größten Nachbarn zugeschlagen.&lt;br&gt;&lt;b&gt;Vereinfachung&lt;/b&gt;: Toleranz in Karteneinheiten; gemeinsame Grenzen werden einmal vereinfacht, sodass benachbarte Polygone weder Lücken noch Überlappungen haben.&lt;br&gt;&lt;b&gt;Unsichere Klasse&lt;/b&gt;: Pixel, deren Konfidenz (%) unter dem Schwellenwert liegt, bilden die Klasse 'uncertain' (Wert 255).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="57" />
      <source>Confidence raster (%)</source>
      <translation>Konfidenzraster (%)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="65" />
      <source>Classified raster: no raster layer given</source>
      <translation>Klassifiziertes Raster: kein Rasterlayer angegeben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="75" />
      <source>The uncertain class needs the confidence raster</source>
      <translation>Die unsichere Klasse benötigt das Konfidenzraster</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/polygonize.py" line="101" />
      <source>Wrote {path}: {count} polygons</source>
      <translation>{path} geschrieben: {count} Polygone</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="153" />
      <source>Areas per class:</source>
      <translation>Flächen pro Klasse:</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="80" />
      <source>Class polygons</source>
      <translation>Klassenpolygone</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="90" />
      <source>Areas per class</source>
      <translation>Flächen pro Klasse</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="95" />
      <source>Run report</source>
      <translation>Laufbericht</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="98" />
      <source>Areas per class (JSON)</source>
      <translation>Flächen pro Klasse (JSON)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="99" />
      <source>Valid area (m2)</source>
      <translation>Gültige Fläche (m2)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="49" />
      <source>Polygons: minimum area (m2, or pixels as e.g. 20px)</source>
      <translation>Polygone: Mindestfläche (m2, oder Pixel als z. B. 20px)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="57" />
      <source>Polygons: simplification tolerance (map units, 0 = none)</source>
      <translation>Polygone: Vereinfachungstoleranz (Karteneinheiten, 0 = keine)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/products.py" line="69" />
      <source>Uncertain class below this confidence (%, needs the confidence raster)</source>
      <translation>Unsichere Klasse unter dieser Konfidenz (%, benötigt das Konfidenzraster)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/provider.py" line="27" />
      <source>OVSS Land Cover</source>
      <translation>OVSS Landbedeckung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/provider.py" line="31" />
      <source>OVSS open-vocabulary land cover</source>
      <translation>OVSS Landbedeckung mit offenem Vokabular</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="473" />
      <source>Input raster: no raster layer given</source>
      <translation>Eingaberaster: kein Rasterlayer angegeben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="128" />
      <source>Segment raster with open-vocabulary labels</source>
      <translation>Raster mit Beschriftungen aus offenem Vokabular segmentieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="174" />
      <source>Tile size (pixels)</source>
      <translation>Kachelgröße (Pixel)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="178" />
      <source>Tile overlap (pixels)</source>
      <translation>Kachelüberlappung (Pixel)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="183" />
      <source>Batch size (tiles per model call, 0 = automatic)</source>
      <translation>Stapelgröße (Kacheln pro Modellaufruf, 0 = automatisch)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="318" />
      <source>Bands: set all three (red, green, blue), only the red band (repeated), or none</source>
      <translation>Bänder: Geben Sie alle drei (Rot, Grün, Blau), nur das rote Band (wird wiederholt) oder keines an</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="132" />
      <source>Classifies a raster into land-cover classes described in plain words, with a training-free open-vocabulary method (SDCI, AlignCLIP, SegEarth-OV).&lt;br&gt;&lt;br&gt;&lt;b&gt;Labels&lt;/b&gt;: classes are separated by ';' or new lines; a class may have several prompts separated by ',' (their text embeddings are averaged); an optional 'Name:' prefix gives the display name (default: the first prompt); '#rrggbb' after the name sets its colour and '(background)' marks the background class. Example:&lt;br&gt;&lt;tt&gt;impervious surfaces: ground, road, streets; building: buildings, man-made buildings; low vegetation; tree: trees; car: vehicles&lt;/tt&gt;&lt;br&gt;Give either Labels or a Preset (a dataset's classes with the papers' per-dataset parameters). Method, Preset, Device and Precision take the option's name or its number (0 = the first).&lt;br&gt;&lt;br&gt;&lt;b&gt;Bands&lt;/b&gt;: leave empty for bands 1, 2, 3 (or band 1 of a single-band raster); set only the red band to repeat one band; set all three for another mapping (e.g. 4, 3, 2).&lt;br&gt;&lt;b&gt;Extent&lt;/b&gt;: segment only this part of the raster.&lt;br&gt;&lt;b&gt;Output&lt;/b&gt;: a Byte GeoTIFF, value k+1 = class k, 0 = nodata, with colour table and class names. The optional confidence raster holds the top class probability in percent.&lt;br&gt;&lt;b&gt;Class polygons, areas, report&lt;/b&gt; (optional): a GeoPackage of the class polygons (minimum area in m2 or e.g. 20px, simplification in map units, both advanced), the areas per class as CSV or JSON and a self-contained HTML report; the areas are also outputs and in the log.&lt;br&gt;&lt;b&gt;Batch size&lt;/b&gt; (advanced): tiles per model call; 0 chooses as many as fit the free memory. It changes the speed, not the result.&lt;br&gt;&lt;b&gt;Method parameters&lt;/b&gt; (advanced): overrides of the chosen method's parameters, as &lt;tt&gt;key=value&lt;/tt&gt; lines (or ';'-separated) or a JSON object, e.g. &lt;tt&gt;alpha=0.3&lt;/tt&gt;; they replace the papers' defaults and a preset's per-dataset values. Defaults:&lt;br&gt;{defaults}&lt;br&gt;With the environment variable OVSS_WEIGHTS=random the models get random weights: a pipeline check, not a real segmentation.</source>
      <translation>Klassifiziert ein Raster in Landbedeckungsklassen, die in eigenen Worten beschrieben werden, mit einer trainingsfreien Methode mit offenem Vokabular (SDCI, AlignCLIP, SegEarth-OV).&lt;br&gt;&lt;br&gt;&lt;b&gt;Beschriftungen&lt;/b&gt;: Klassen werden durch ';' oder Zeilenumbrüche getrennt; eine Klasse kann mehrere durch ',' getrennte Prompts haben (ihre Text-Embeddings werden gemittelt); ein optionales vorangestelltes 'Name:' legt den Anzeigenamen fest (Standard: der erste Prompt); '#rrggbb' nach dem Namen legt die Farbe fest, und '(background)' kennzeichnet die Hintergrundklasse. Beispiel:&lt;br&gt;&lt;tt&gt;impervious surfaces: ground, road, streets; building: buildings, man-made buildings; low vegetation; tree: trees; car: vehicles&lt;/tt&gt;&lt;br&gt;Geben Sie entweder Beschriftungen oder eine Voreinstellung an (die Klassen eines Datensatzes mit den datensatzspezifischen Parametern aus den Veröffentlichungen). Methode, Voreinstellung, Gerät und Genauigkeit nehmen den Namen der Option oder ihre Nummer an (0 = die erste).&lt;br&gt;&lt;br&gt;&lt;b&gt;Bänder&lt;/b&gt;: Leer lassen für die Bänder 1, 2, 3 (bzw. Band 1 bei einem einkanaligen Raster); nur das rote Band angeben, um ein Band zu wiederholen; alle drei angeben für eine andere Zuordnung (z. B. 4, 3, 2).&lt;br&gt;&lt;b&gt;Ausdehnung&lt;/b&gt;: Nur diesen Teil des Rasters segmentieren.&lt;br&gt;&lt;b&gt;Ausgabe&lt;/b&gt;: ein Byte-GeoTIFF, Wert k+1 = Klasse k, 0 = NoData, mit Farbtabelle und Klassennamen. Das optionale Konfidenzraster enthält die Wahrscheinlichkeit der wahrscheinlichsten Klasse in Prozent.&lt;br&gt;&lt;b&gt;Klassenpolygone, Flächen, Bericht&lt;/b&gt; (optional): ein GeoPackage der Klassenpolygone (Mindestfläche in m2 oder z. B. 20px, Vereinfachung in Karteneinheiten, beide erweitert), die Flächen pro Klasse als CSV oder JSON und ein eigenständiger HTML-Bericht; die Flächen sind auch Ausgaben und stehen im Protokoll.&lt;br&gt;&lt;b&gt;Stapelgröße&lt;/b&gt; (erweitert): Kacheln pro Modellaufruf; 0 wählt so viele, wie in den freien Speicher passen. Sie ändert die Geschwindigkeit, nicht das Ergebnis.&lt;br&gt;&lt;b&gt;Methodenparameter&lt;/b&gt; (erweitert): Änderungen an den Parametern der gewählten Methode, als &lt;tt&gt;Schlüssel=Wert&lt;/tt&gt;-Zeilen (oder durch ';' getrennt) oder als JSON-Objekt, z. B. &lt;tt&gt;alpha=0.3&lt;/tt&gt;; sie ersetzen die Standardwerte aus den Veröffentlichungen und die datensatzspezifischen Werte einer Voreinstellung. Standardwerte:&lt;br&gt;{defaults}&lt;br&gt;Mit der Umgebungsvariable OVSS_WEIGHTS=random erhalten die Modelle zufällige Gewichte: ein Test der Verarbeitungskette, keine echte Segmentierung.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="164" />
      <source>Input raster</source>
      <translation>Eingaberaster</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="166" />
      <source>Labels</source>
      <translation>Beschriftungen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="167" />
      <source>Preset</source>
      <translation>Voreinstellung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="169" />
      <source>Band for red</source>
      <translation>Band für Rot</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="169" />
      <source>Band for green</source>
      <translation>Band für Grün</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="169" />
      <source>Band for blue</source>
      <translation>Band für Blau</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="172" />
      <source>Extent</source>
      <translation>Ausdehnung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="254" />
      <source>Input raster: only file rasters (GDAL) can be segmented</source>
      <translation>Eingaberaster: nur dateibasierte Raster (GDAL) können segmentiert werden</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="296" />
      <source>Give either Labels or a Preset, not both</source>
      <translation>Geben Sie entweder Beschriftungen oder eine Voreinstellung an, nicht beides</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="299" />
      <source>Give Labels (e.g. 'building: buildings, roofs; road; tree: trees') or choose a Preset</source>
      <translation>Geben Sie Beschriftungen an (z. B. 'building: buildings, roofs; road; tree: trees') oder wählen Sie eine Voreinstellung</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="458" />
      <source>no parameters</source>
      <translation>keine Parameter</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="472" />
      <source>Input raster: QGIS cannot load {} as a raster layer</source>
      <translation>Eingaberaster: QGIS kann {} nicht als Rasterlayer laden</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="206" />
      <source>Method parameters (key=value lines or JSON; defaults in the help)</source>
      <translation>Methodenparameter (Schlüssel=Wert-Zeilen oder JSON; Standardwerte in der Hilfe)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="216" />
      <source>Dask cluster (scheduler address tcp://host:8786 or local:N; empty: this computer)</source>
      <translation>Dask-Cluster (Scheduler-Adresse tcp://host:8786 oder local:N; leer: dieser Computer)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="363" />
      <source>Classes: {}</source>
      <translation>Klassen: {}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="365" />
      <source>Method parameters changed from the defaults: {}</source>
      <translation>Gegenüber den Standardwerten geänderte Methodenparameter: {}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="411" />
      <source>Wrote {path}: {width} x {height} pixels, {tiles} tiles in {seconds:.1f} s</source>
      <translation>{path} geschrieben: {width} x {height} Pixel, {tiles} Kacheln in {seconds:.1f} s</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/segment.py" line="471" />
      <source>Input raster: {}</source>
      <translation>Eingaberaster: {}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="51" />
      <source>Set up the Python environment</source>
      <translation>Python-Umgebung einrichten</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="55" />
      <source>Creates the plugin's own Python environment (QGIS's Python is not changed) and installs the engine's pinned packages into it with pip: torch (the CUDA build when an NVIDIA GPU is seen, the CPU build otherwise, the default build on macOS), torchvision, open_clip, timm and others, a few GB. The plan is printed first; nothing is downloaded unless 'I agree' is ticked. Dry run only prints the plan. A second run finds the environment healthy and does nothing; a run after a failed or cancelled one repairs it. With 'Existing Python', that interpreter (conda, a venv) is checked and used instead. QGIS's proxy settings are passed to pip.</source>
      <translation>Erstellt die eigene Python-Umgebung des Plugins (QGIS' Python wird nicht verändert) und installiert mit pip die festgelegten Pakete der Engine hinein: torch (die CUDA-Variante, wenn eine NVIDIA-GPU erkannt wird, sonst die CPU-Variante, unter macOS die Standardvariante), torchvision, open_clip, timm und weitere, einige GB. Zuerst wird der Plan ausgegeben; heruntergeladen wird nur, wenn 'Ich stimme zu' angekreuzt ist. Ein Probelauf gibt nur den Plan aus. Ein zweiter Lauf findet die Umgebung intakt und tut nichts; ein Lauf nach einem fehlgeschlagenen oder abgebrochenen repariert sie. Mit 'Vorhandenes Python' wird stattdessen dieser Interpreter (conda, ein venv) geprüft und verwendet. Die Proxy-Einstellungen von QGIS werden an pip übergeben.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="68" />
      <source>Environment folder (default: the user data folder)</source>
      <translation>Ordner der Umgebung (Standard: der Benutzerdatenordner)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="71" />
      <source>Package index URL (default: PyPI)</source>
      <translation>URL des Paketindex (Standard: PyPI)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="72" />
      <source>torch build</source>
      <translation>torch-Variante</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="74" />
      <source>I agree to download and install the packages</source>
      <translation>Ich stimme zu, die Pakete herunterzuladen und zu installieren</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="76" />
      <source>Dry run: only print the plan</source>
      <translation>Probelauf: nur den Plan ausgeben</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="78" />
      <source>Existing Python (use this environment instead)</source>
      <translation>Vorhandenes Python (stattdessen diese Umgebung verwenden)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="80" />
      <source>Python</source>
      <translation>Python</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="81" />
      <source>Plan</source>
      <translation>Plan</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="104" />
      <source>Nothing was installed: set CONSENT to true to agree to the plan above (or DRY_RUN to only see it).</source>
      <translation>Nichts wurde installiert: Setzen Sie CONSENT auf true, um dem Plan oben zuzustimmen (oder DRY_RUN, um ihn nur anzusehen).</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/processing/setup_environment.py" line="79" />
      <source>All files (*)</source>
      <translation>Alle Dateien (*)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/task.py" line="156" />
      <source>Land cover: {name}</source>
      <translation>Landbedeckung: {name}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/task.py" line="309" />
      <source>QGIS cannot open the result {path}.</source>
      <translation>QGIS kann das Ergebnis {path} nicht öffnen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/task.py" line="313" />
      <source>{name} - confidence</source>
      <translation>{name} - Konfidenz</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/task.py" line="318" />
      <source>{name} - polygons</source>
      <translation>{name} - Polygone</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/task.py" line="279" />
      <source>{description} (cancelled)</source>
      <translation>{description} (abgebrochen)</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="41" />
      <source>Download these checkpoints?</source>
      <translation>Diese Checkpoints herunterladen?</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="44" />
      <source>size unknown</source>
      <translation>Größe unbekannt</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="143" />
      <source>Downloading model weights</source>
      <translation>Modellgewichte werden heruntergeladen</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="168" />
      <source>Download cancelled.</source>
      <translation>Download abgebrochen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="45" />
      <source>• {file} ({size}, licence: {licence})
  from {url}
  to {dest}</source>
      <translation>• {file} ({size}, Lizenz: {licence})
  von {url}
  nach {dest}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="59" />
      <source>Download of {file} cancelled; start it again to resume.</source>
      <translation>Download von {file} abgebrochen; starten Sie ihn erneut, um ihn fortzusetzen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="122" />
      <source>Download of {url} failed: {reason}</source>
      <translation>Download von {url} fehlgeschlagen: {reason}</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="166" />
      <source>Downloaded {files}.</source>
      <translation>{files} heruntergeladen.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="131" />
      <source>Downloaded {file} has sha256 {actual}, expected {expected}; the file was removed.</source>
      <translation>Die heruntergeladene Datei {file} hat die sha256-Prüfsumme {actual}, erwartet wurde {expected}; die Datei wurde entfernt.</translation>
    </message>
    <message>
      <location filename="../ovss_plugin/weights_download.py" line="159" />
      <source>Cannot write the weights file: {reason}</source>
      <translation>Die Gewichtsdatei kann nicht geschrieben werden: {reason}</translation>
    </message>
  </context>
</TS>
