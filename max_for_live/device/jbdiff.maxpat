{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 6,
			"revision": 0,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [80.0, 80.0, 1900.0, 1100.0],
		"openrect": [0.0, 0.0, 0.0, 169.0],
		"bglocked": 0,
		"openinpresentation": 1,
		"default_fontsize": 10.0,
		"default_fontface": 0,
		"default_fontname": "Arial Bold",
		"gridonopen": 1,
		"gridsize": [8.0, 8.0],
		"gridsnaponopen": 1,
		"objectsnaponopen": 1,
		"statusbarvisible": 2,
		"toolbarvisible": 1,
		"lefttoolbarpinned": 0,
		"toptoolbarpinned": 0,
		"righttoolbarpinned": 0,
		"bottomtoolbarpinned": 0,
		"toolbars_unpinned_last_save": 0,
		"tallnewobj": 0,
		"boxanimatetime": 200,
		"enablehscroll": 1,
		"enablevscroll": 1,
		"devicewidth": 892.0,
		"description": "jbdiff: generate music with Jukebox Diffusion from Live (talks OSC to `jbdiff serve`).",
		"digest": "Generate, get a clip.",
		"tags": "jbdiff",
		"style": "",
		"subpatcher_template": "",
		"assistshowspatchername": 0,
		"boxes": [
			{
				"box": {
					"maxclass": "newobj",
					"text": "js jbdiff_device.js",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [520.0, 220.0, 140.0, 22.0],
					"outlettype": ["", ""],
					"saved_object_attributes": {
						"filename": "jbdiff_device.js",
						"parameter_enable": 0
					},
					"id": "obj-1"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "udpsend 127.0.0.1 9130",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [520.0, 260.0, 150.0, 22.0],
					"varname": "udp_out",
					"id": "obj-2"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "udpreceive 9131",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [520.0, 140.0, 110.0, 22.0],
					"outlettype": [""],
					"varname": "udp_in",
					"id": "obj-3"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "plugin~",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [20.0, 20.0, 60.0, 22.0],
					"outlettype": ["signal", "signal"],
					"id": "obj-4"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "plugout~",
					"numinlets": 2,
					"numoutlets": 0,
					"patching_rect": [20.0, 80.0, 60.0, 22.0],
					"id": "obj-5"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "live.thisdevice",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [120.0, 20.0, 90.0, 22.0],
					"outlettype": ["bang", "int", "int"],
					"id": "obj-6"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t b b",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [120.0, 50.0, 40.0, 22.0],
					"outlettype": ["bang", "bang"],
					"id": "obj-7"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "init",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [160.0, 80.0, 40.0, 22.0],
					"id": "obj-8"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "metro 1000",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [120.0, 80.0, 70.0, 22.0],
					"outlettype": ["bang"],
					"id": "obj-9"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "tick",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [120.0, 110.0, 40.0, 22.0],
					"id": "obj-10"
				}
			},
			{
				"box": {
					"maxclass": "live.tab",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 320.0, 146, 16],
					"presentation": 1,
					"presentation_rect": [4, 70, 146, 16],
					"varname": "length_mode",
					"annotation": "Give the length in seconds, or in bars at Live's tempo and time signature.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Length Mode",
							"parameter_shortname": "Length",
							"parameter_type": 2,
							"parameter_enum": ["Seconds", "Bars"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"num_lines_presentation": 1,
					"num_lines_patching": 1,
					"id": "obj-11"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param length_mode",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 372.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-12"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [190.0, 320.0, 44, 48],
					"presentation": 1,
					"presentation_rect": [4, 88, 44, 48],
					"varname": "seconds",
					"annotation": "Length of the result in seconds (Length: Seconds). Ignored with an init clip.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Seconds",
							"parameter_shortname": "Seconds",
							"parameter_type": 0,
							"parameter_mmin": 0.5,
							"parameter_mmax": 600.0,
							"parameter_unitstyle": 1,
							"parameter_exponent": 3.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [12.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-13"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param seconds",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 372.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-14"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360.0, 320.0, 44, 48],
					"presentation": 1,
					"presentation_rect": [56, 88, 44, 48],
					"varname": "bars",
					"annotation": "Length of the result in bars at Live's tempo (Length: Bars).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Bars",
							"parameter_shortname": "Bars",
							"parameter_type": 0,
							"parameter_mmin": 0.25,
							"parameter_mmax": 64.0,
							"parameter_unitstyle": 1,
							"parameter_steps": 256,
							"parameter_initial_enable": 1,
							"parameter_initial": [4.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-15"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param bars",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360.0, 372.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-16"
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [530.0, 320.0, 60, 15],
					"presentation": 1,
					"presentation_rect": [196, 2, 60, 15],
					"varname": "levels",
					"annotation": "Which levels run, coarse (2) to fine (0). Fewer levels: faster, rougher.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Levels",
							"parameter_shortname": "Levels",
							"parameter_type": 2,
							"parameter_enum": ["2-1-0", "2-1", "2-0", "1-0", "2", "1", "0"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 6.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-17"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param levels",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [530.0, 372.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-18"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 400.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [160, 36, 44, 15],
					"varname": "steps_2",
					"annotation": "Diffusion steps of level 2 (0: the model's own number).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Steps Level 2",
							"parameter_shortname": "Steps 2",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1000.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-19"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param steps_2",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 452.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-20"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [190.0, 400.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [206, 36, 44, 15],
					"varname": "steps_1",
					"annotation": "Diffusion steps of level 1 (0: the model's own number).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Steps Level 1",
							"parameter_shortname": "Steps 1",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1000.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-21"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param steps_1",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 452.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-22"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360.0, 400.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [252, 36, 44, 15],
					"varname": "steps_0",
					"annotation": "Diffusion steps of level 0 (0: the model's own number).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Steps Level 0",
							"parameter_shortname": "Steps 0",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1000.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-23"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param steps_0",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360.0, 452.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-24"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [530.0, 400.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [298, 36, 44, 15],
					"varname": "steps_dd",
					"annotation": "Diffusion steps of the Dance Diffusion stereo stage (0: the model's own number).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Steps Dance",
							"parameter_shortname": "Steps DD",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1000.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-25"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param steps_dd",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [530.0, 452.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-26"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [20.0, 480.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [214, 96, 44, 15],
					"varname": "embedding_auto",
					"annotation": "On: each level uses the model's own context strength. Off: the Embedding dial.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Embedding Auto",
							"parameter_shortname": "Emb Auto",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 1,
					"text": "Auto",
					"texton": "Auto",
					"id": "obj-27"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param embedding_auto",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 532.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-28"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [190.0, 480.0, 50, 48],
					"presentation": 1,
					"presentation_rect": [160, 80, 50, 48],
					"varname": "embedding_strength",
					"annotation": "How strongly the context clip steers the result (guidance scale 0 .. 50).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Embedding Strength",
							"parameter_shortname": "Embedding",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 50.0,
							"parameter_unitstyle": 1,
							"parameter_initial_enable": 1,
							"parameter_initial": [4.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-29"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param embedding_strength",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 532.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-30"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360.0, 480.0, 50, 48],
					"presentation": 1,
					"presentation_rect": [272, 80, 50, 48],
					"varname": "init_strength",
					"annotation": "How much of the init clip survives in a variation (0: nothing, 1: all).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Init Strength",
							"parameter_shortname": "Init Str",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_unitstyle": 1,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.5],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-31"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param init_strength",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360.0, 532.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-32"
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [530.0, 480.0, 86, 15],
					"presentation": 1,
					"presentation_rect": [354, 18, 86, 15],
					"varname": "noise_style",
					"annotation": "How the noise evolves from window to window.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Noise Style",
							"parameter_shortname": "Noise",
							"parameter_type": 2,
							"parameter_enum": ["random", "constant", "region", "walk"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 3.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-33"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param noise_style",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [530.0, 532.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-34"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 560.0, 50, 48],
					"presentation": 1,
					"presentation_rect": [354, 36, 50, 48],
					"varname": "noise_step_size",
					"annotation": "Noise change per window for the walk and region styles.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Noise Step Size",
							"parameter_shortname": "Noise Stp",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_unitstyle": 1,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.6],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-35"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param noise_step_size",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 612.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-36"
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [190.0, 560.0, 86, 15],
					"presentation": 1,
					"presentation_rect": [450, 18, 86, 15],
					"varname": "dd_noise_style",
					"annotation": "How the stereo stage's noise evolves from window to window.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Dance Noise Style",
							"parameter_shortname": "DD Noise",
							"parameter_type": 2,
							"parameter_enum": ["random", "constant", "region", "walk"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 3.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-37"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param dd_noise_style",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 612.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-38"
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360.0, 560.0, 50, 48],
					"presentation": 1,
					"presentation_rect": [450, 36, 50, 48],
					"varname": "dd_noise_step_size",
					"annotation": "Stereo stage noise change per window.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Dance Noise Step Size",
							"parameter_shortname": "DD Stp",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_unitstyle": 1,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.4],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-39"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param dd_noise_step_size",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360.0, 612.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-40"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [530.0, 560.0, 70, 15],
					"presentation": 1,
					"presentation_rect": [354, 104, 70, 15],
					"varname": "noise_seed",
					"annotation": "Seed of the level noise, used while Lock is on.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Seed",
							"parameter_shortname": "Seed",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 16777215.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-41"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param noise_seed",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [530.0, 612.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-42"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 640.0, 70, 15],
					"presentation": 1,
					"presentation_rect": [428, 104, 70, 15],
					"varname": "dd_noise_seed",
					"annotation": "Seed of the stereo stage noise, used while Lock is on.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Dance Seed",
							"parameter_shortname": "DD Seed",
							"parameter_type": 1,
							"parameter_mmin": 0.0,
							"parameter_mmax": 16777215.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-43"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param dd_noise_seed",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 692.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-44"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [190.0, 640.0, 40, 15],
					"presentation": 1,
					"presentation_rect": [502, 104, 40, 15],
					"varname": "lock_seeds",
					"annotation": "On: repeat the seeds below. Turning it on keeps the seeds of the last result.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Lock Seeds",
							"parameter_shortname": "Lock",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 1,
					"text": "Lock",
					"texton": "Locked",
					"id": "obj-45"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param lock_seeds",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 692.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-46"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360.0, 640.0, 44, 15],
					"presentation": 1,
					"presentation_rect": [206, 58, 44, 15],
					"varname": "token_multiplier",
					"annotation": "Window length in base tokens: longer windows hold more structure and need more memory.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Token Multiplier",
							"parameter_shortname": "Tokens",
							"parameter_type": 1,
							"parameter_mmin": 1.0,
							"parameter_mmax": 32.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [2.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-47"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param token_multiplier",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360.0, 692.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-48"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [530.0, 640.0, 80, 15],
					"presentation": 1,
					"presentation_rect": [262, 58, 80, 15],
					"varname": "use_dd",
					"annotation": "Run the Dance Diffusion stereo stage (off: mono copied to both sides).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Use Dance Diffusion",
							"parameter_shortname": "Use DD",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 1,
					"text": "Use Dance Diffusion",
					"texton": "Use Dance Diffusion",
					"id": "obj-49"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param use_dd",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [530.0, 692.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-50"
				}
			},
			{
				"box": {
					"maxclass": "live.tab",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 720.0, 84, 15],
					"presentation": 1,
					"presentation_rect": [262, 2, 84, 15],
					"varname": "quality",
					"annotation": "Draft: a quarter of the steps, for quick sketches.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Quality",
							"parameter_shortname": "Quality",
							"parameter_type": 2,
							"parameter_enum": ["Standard", "Draft"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"num_lines_presentation": 1,
					"num_lines_patching": 1,
					"id": "obj-51"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param quality",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 772.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-52"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [190.0, 720.0, 68, 15],
					"presentation": 1,
					"presentation_rect": [818, 58, 68, 15],
					"varname": "auto_insert",
					"annotation": "Put each result into the next free clip slot of this track (Live 12.0.5+).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Auto Insert",
							"parameter_shortname": "Insert",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 1,
					"text": "Auto insert",
					"texton": "Auto insert",
					"id": "obj-53"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param auto_insert",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 772.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-54"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [360.0, 720.0, 72, 30],
					"presentation": 1,
					"presentation_rect": [4, 22, 72, 30],
					"varname": "generate",
					"annotation": "Queue a generation with these settings.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Generate",
							"parameter_shortname": "Generate",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 0,
					"text": "Generate",
					"texton": "Generate",
					"id": "obj-55"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "generate",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [360.0, 772.0, 150.0, 22.0],
					"id": "obj-56"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [530.0, 720.0, 70, 30],
					"presentation": 1,
					"presentation_rect": [80, 22, 70, 30],
					"varname": "cancel",
					"annotation": "Cancel this device's queued and rendering jobs.",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Cancel",
							"parameter_shortname": "Cancel",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmin": 0.0,
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0.0],
							"parameter_invisible": 0,
							"parameter_annotation_name": ""
						}
					},
					"mode": 0,
					"text": "Cancel",
					"texton": "Cancel",
					"id": "obj-57"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "cancel",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [530.0, 772.0, 150.0, 22.0],
					"id": "obj-58"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [20.0, 800.0, 52, 15],
					"presentation": 1,
					"presentation_rect": [834, 80, 52, 15],
					"varname": "port",
					"annotation": "UDP port the jbdiff server listens on (server.yaml: port).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Server Port",
							"parameter_shortname": "Port",
							"parameter_type": 1,
							"parameter_mmin": 1.0,
							"parameter_mmax": 65535.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [9130.0],
							"parameter_invisible": 1,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-59"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param port",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20.0, 852.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-60"
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [190.0, 800.0, 52, 15],
					"presentation": 1,
					"presentation_rect": [834, 98, 52, 15],
					"varname": "reply_port",
					"annotation": "UDP port this device listens on for replies (server.yaml: reply_port).",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Reply Port",
							"parameter_shortname": "Reply",
							"parameter_type": 1,
							"parameter_mmin": 1.0,
							"parameter_mmax": 65535.0,
							"parameter_unitstyle": 0,
							"parameter_initial_enable": 1,
							"parameter_initial": [9131.0],
							"parameter_invisible": 1,
							"parameter_annotation_name": ""
						}
					},
					"id": "obj-61"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend param reply_port",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [190.0, 852.0, 150.0, 22.0],
					"outlettype": [""],
					"id": "obj-62"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "jbdiff",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700.0, 20.0, 60.0, 20.0],
					"fontsize": 12.0,
					"presentation": 1,
					"presentation_rect": [4, 2, 44, 16],
					"id": "obj-63"
				}
			},
			{
				"box": {
					"maxclass": "panel",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700.0, 50.0, 12.0, 12.0],
					"presentation": 1,
					"presentation_rect": [52, 6, 9, 9],
					"varname": "connection_led",
					"mode": 0,
					"rounded": 9,
					"bgcolor": [0.95, 0.72, 0.2, 1.0],
					"id": "obj-64"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Looking for the server ...",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700.0, 80.0, 280.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [600, 152, 288, 14],
					"varname": "connection_text",
					"id": "obj-65"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Ready.",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700.0, 110.0, 400.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [4, 152, 592, 14],
					"varname": "status_line",
					"id": "obj-66"
				}
			},
			{
				"box": {
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"patching_rect": [700.0, 140.0, 146.0, 10.0],
					"presentation": 1,
					"presentation_rect": [4, 56, 146, 9],
					"varname": "progress_bar",
					"setminmax": [0.0, 1.0],
					"size": 1,
					"orientation": 0,
					"setstyle": 1,
					"ignoreclick": 1,
					"slidercolor": [0.33, 0.78, 0.36, 1.0],
					"id": "obj-67"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "12 s",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700.0, 170.0, 200.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [4, 136, 146, 14],
					"varname": "length_display",
					"id": "obj-68"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Levels",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 20.0, 60.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [160, 2, 36, 15],
					"id": "obj-69"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Steps 2 / 1 / 0 / Dance (0 = model's)",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 50.0, 200.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [160, 20, 186, 14],
					"id": "obj-70"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Tokens",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 80.0, 60.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [160, 58, 44, 15],
					"id": "obj-71"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Noise",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 110.0, 60.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [354, 2, 86, 15],
					"id": "obj-72"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Dance noise",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 140.0, 70.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [450, 2, 86, 15],
					"id": "obj-73"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Seed / Dance seed",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 170.0, 100.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [354, 88, 144, 14],
					"id": "obj-74"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Last seeds -",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [900.0, 200.0, 186.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [354, 122, 188, 14],
					"varname": "last_seeds",
					"id": "obj-75"
				}
			},
			{
				"box": {
					"maxclass": "live.drop",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"decodemode": 0,
					"legend": "Drop context audio",
					"patching_rect": [1100.0, 20.0, 120.0, 34.0],
					"presentation": 1,
					"presentation_rect": [548, 2, 126, 34],
					"varname": "context_drop",
					"id": "obj-76"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "conformpath slash boot",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [1100.0, 60.0, 140.0, 22.0],
					"outlettype": ["", "int"],
					"id": "obj-77"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend drop_context",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1100.0, 90.0, 130.0, 22.0],
					"outlettype": [""],
					"id": "obj-78"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Clip",
					"texton": "Clip",
					"patching_rect": [1260.0, 20.0, 40.0, 16.0],
					"presentation": 1,
					"presentation_rect": [678, 2, 36, 16],
					"id": "obj-79"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "use_clip context",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1260.0, 46.0, 110.0, 22.0],
					"id": "obj-80"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Clear",
					"texton": "Clear",
					"patching_rect": [1310.0, 20.0, 40.0, 16.0],
					"presentation": 1,
					"presentation_rect": [678, 20, 36, 16],
					"id": "obj-81"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "clear context",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1310.0, 46.0, 110.0, 22.0],
					"id": "obj-82"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "no context",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1100.0, 120.0, 170.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [548, 38, 170, 14],
					"varname": "context_label",
					"id": "obj-83"
				}
			},
			{
				"box": {
					"maxclass": "live.drop",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"decodemode": 0,
					"legend": "Drop init audio",
					"patching_rect": [1100.0, 170.0, 120.0, 34.0],
					"presentation": 1,
					"presentation_rect": [548, 72, 126, 34],
					"varname": "init_drop",
					"id": "obj-84"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "conformpath slash boot",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [1100.0, 210.0, 140.0, 22.0],
					"outlettype": ["", "int"],
					"id": "obj-85"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend drop_init",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1100.0, 240.0, 130.0, 22.0],
					"outlettype": [""],
					"id": "obj-86"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Clip",
					"texton": "Clip",
					"patching_rect": [1260.0, 170.0, 40.0, 16.0],
					"presentation": 1,
					"presentation_rect": [678, 72, 36, 16],
					"id": "obj-87"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "use_clip init",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1260.0, 196.0, 110.0, 22.0],
					"id": "obj-88"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Clear",
					"texton": "Clear",
					"patching_rect": [1310.0, 170.0, 40.0, 16.0],
					"presentation": 1,
					"presentation_rect": [678, 90, 36, 16],
					"id": "obj-89"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "clear init",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1310.0, 196.0, 110.0, 22.0],
					"id": "obj-90"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "no init",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1100.0, 270.0, 170.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [548, 108, 170, 14],
					"varname": "init_label",
					"id": "obj-91"
				}
			},
			{
				"box": {
					"maxclass": "umenu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1400.0, 20.0, 196.0, 22.0],
					"presentation": 1,
					"presentation_rect": [722, 2, 164, 18],
					"varname": "recent_menu",
					"items": [],
					"fontsize": 9.5,
					"id": "obj-92"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend recent",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1400.0, 50.0, 100.0, 22.0],
					"outlettype": [""],
					"id": "obj-93"
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1400.0, 80.0, 196.0, 32.0],
					"presentation": 1,
					"presentation_rect": [722, 22, 164, 32],
					"varname": "result_path",
					"fontsize": 9.5,
					"lines": 2,
					"keymode": 1,
					"readonly": 1,
					"wordwrap": 1,
					"id": "obj-94"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Insert",
					"texton": "Insert",
					"patching_rect": [1400.0, 130.0, 46.0, 15.0],
					"presentation": 1,
					"presentation_rect": [722, 58, 46, 15],
					"id": "obj-95"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "insert",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1400.0, 156.0, 110.0, 22.0],
					"id": "obj-96"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 0,
					"mode": 0,
					"text": "Reveal",
					"texton": "Reveal",
					"patching_rect": [1460.0, 130.0, 46.0, 15.0],
					"presentation": 1,
					"presentation_rect": [772, 58, 42, 15],
					"id": "obj-97"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "reveal",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [1460.0, 156.0, 110.0, 22.0],
					"id": "obj-98"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Server",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1400.0, 200.0, 50.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [722, 80, 40, 15],
					"id": "obj-99"
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1400.0, 230.0, 120.0, 20.0],
					"presentation": 1,
					"presentation_rect": [762, 80, 70, 16],
					"varname": "host_edit",
					"fontsize": 9.5,
					"lines": 1,
					"keymode": 1,
					"readonly": 0,
					"wordwrap": 0,
					"id": "obj-100"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend host",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1400.0, 260.0, 140.0, 22.0],
					"outlettype": [""],
					"id": "obj-101"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Reply",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1400.0, 290.0, 50.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [796, 98, 36, 15],
					"id": "obj-102"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Shared folder: here / on the server",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1400.0, 320.0, 200.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [722, 116, 166, 14],
					"id": "obj-103"
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1400.0, 350.0, 120.0, 20.0],
					"presentation": 1,
					"presentation_rect": [722, 132, 80, 16],
					"varname": "share_local_edit",
					"fontsize": 9.5,
					"lines": 1,
					"keymode": 1,
					"readonly": 0,
					"wordwrap": 0,
					"id": "obj-104"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend share_local",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1400.0, 380.0, 140.0, 22.0],
					"outlettype": [""],
					"id": "obj-105"
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1560.0, 350.0, 120.0, 20.0],
					"presentation": 1,
					"presentation_rect": [806, 132, 80, 16],
					"varname": "share_server_edit",
					"fontsize": 9.5,
					"lines": 1,
					"keymode": 1,
					"readonly": 0,
					"wordwrap": 0,
					"id": "obj-106"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend share_server",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1560.0, 380.0, 140.0, 22.0],
					"outlettype": [""],
					"id": "obj-107"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "pattr connection_store",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", ""],
					"patching_rect": [1700.0, 20.0, 160.0, 22.0],
					"varname": "connection_store",
					"saved_object_attributes": {
						"parameter_enable": 1,
						"parameter_mappable": 0
					},
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Connection Settings",
							"parameter_shortname": "Connection",
							"parameter_type": 3,
							"parameter_invisible": 1,
							"parameter_initial_enable": 0
						}
					},
					"id": "obj-108"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend restore_connection",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1700.0, 50.0, 160.0, 22.0],
					"outlettype": [""],
					"id": "obj-109"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "pattr files_store",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", ""],
					"patching_rect": [1700.0, 90.0, 160.0, 22.0],
					"varname": "files_store",
					"saved_object_attributes": {
						"parameter_enable": 1,
						"parameter_mappable": 0
					},
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Context And Init Files",
							"parameter_shortname": "Files",
							"parameter_type": 3,
							"parameter_invisible": 1,
							"parameter_initial_enable": 0
						}
					},
					"id": "obj-110"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend restore_files",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1700.0, 120.0, 160.0, 22.0],
					"outlettype": [""],
					"id": "obj-111"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "pattr recents_store",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", ""],
					"patching_rect": [1700.0, 160.0, 160.0, 22.0],
					"varname": "recents_store",
					"saved_object_attributes": {
						"parameter_enable": 1,
						"parameter_mappable": 0
					},
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Recent Results",
							"parameter_shortname": "Recents",
							"parameter_type": 3,
							"parameter_invisible": 1,
							"parameter_initial_enable": 0
						}
					},
					"id": "obj-112"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend restore_recents",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1700.0, 190.0, 160.0, 22.0],
					"outlettype": [""],
					"id": "obj-113"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Model",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1700.0, 240.0, 50.0, 20.0],
					"fontsize": 9.5,
					"presentation": 1,
					"presentation_rect": [160, 134, 36, 15],
					"id": "obj-114"
				}
			},
			{
				"box": {
					"maxclass": "umenu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1700.0, 266.0, 160.0, 22.0],
					"presentation": 1,
					"presentation_rect": [196, 132, 150, 18],
					"varname": "model_menu",
					"items": [],
					"fontsize": 9.5,
					"annotation": "The model the server renders the next jobs with. The server lists them and remembers the choice; jobs already queued keep theirs.",
					"id": "obj-115"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend model",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1700.0, 296.0, 100.0, 22.0],
					"outlettype": [""],
					"id": "obj-116"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"source": ["obj-1", 0],
					"destination": ["obj-2", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-1", 1],
					"destination": ["obj-3", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-3", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-4", 0],
					"destination": ["obj-5", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-4", 1],
					"destination": ["obj-5", 1]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 0],
					"destination": ["obj-7", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-7", 1],
					"destination": ["obj-8", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-7", 0],
					"destination": ["obj-9", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-8", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-9", 0],
					"destination": ["obj-10", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-10", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-11", 0],
					"destination": ["obj-12", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-12", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-13", 0],
					"destination": ["obj-14", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-14", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-15", 0],
					"destination": ["obj-16", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-16", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 0],
					"destination": ["obj-18", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-18", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-19", 0],
					"destination": ["obj-20", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-20", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-21", 0],
					"destination": ["obj-22", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-22", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-23", 0],
					"destination": ["obj-24", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-24", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-25", 0],
					"destination": ["obj-26", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-26", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-27", 0],
					"destination": ["obj-28", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-28", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-29", 0],
					"destination": ["obj-30", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-30", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-31", 0],
					"destination": ["obj-32", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-32", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-33", 0],
					"destination": ["obj-34", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-34", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-35", 0],
					"destination": ["obj-36", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-36", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-37", 0],
					"destination": ["obj-38", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-38", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-39", 0],
					"destination": ["obj-40", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-40", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-41", 0],
					"destination": ["obj-42", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-42", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-43", 0],
					"destination": ["obj-44", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-44", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-45", 0],
					"destination": ["obj-46", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-46", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-47", 0],
					"destination": ["obj-48", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-48", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-49", 0],
					"destination": ["obj-50", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-50", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-51", 0],
					"destination": ["obj-52", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-52", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-53", 0],
					"destination": ["obj-54", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-54", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-55", 0],
					"destination": ["obj-56", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-56", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-57", 0],
					"destination": ["obj-58", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-58", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-59", 0],
					"destination": ["obj-60", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-60", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-61", 0],
					"destination": ["obj-62", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-62", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-76", 0],
					"destination": ["obj-77", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-77", 0],
					"destination": ["obj-78", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-78", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-79", 0],
					"destination": ["obj-80", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-80", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-81", 0],
					"destination": ["obj-82", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-82", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-84", 0],
					"destination": ["obj-85", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-85", 0],
					"destination": ["obj-86", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-86", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-87", 0],
					"destination": ["obj-88", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-88", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-89", 0],
					"destination": ["obj-90", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-90", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-92", 0],
					"destination": ["obj-93", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-93", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-95", 0],
					"destination": ["obj-96", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-96", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-97", 0],
					"destination": ["obj-98", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-98", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-100", 0],
					"destination": ["obj-101", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-101", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-104", 0],
					"destination": ["obj-105", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-105", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-106", 0],
					"destination": ["obj-107", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-107", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-108", 0],
					"destination": ["obj-109", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-109", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-110", 0],
					"destination": ["obj-111", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-111", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-112", 0],
					"destination": ["obj-113", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-113", 0],
					"destination": ["obj-1", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-115", 0],
					"destination": ["obj-116", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-116", 0],
					"destination": ["obj-1", 0]
				}
			}
		],
		"parameters": {
			"obj-11": ["Length Mode", "Length", 0],
			"obj-13": ["Seconds", "Seconds", 0],
			"obj-15": ["Bars", "Bars", 0],
			"obj-17": ["Levels", "Levels", 0],
			"obj-19": ["Steps Level 2", "Steps 2", 0],
			"obj-21": ["Steps Level 1", "Steps 1", 0],
			"obj-23": ["Steps Level 0", "Steps 0", 0],
			"obj-25": ["Steps Dance", "Steps DD", 0],
			"obj-27": ["Embedding Auto", "Emb Auto", 0],
			"obj-29": ["Embedding Strength", "Embedding", 0],
			"obj-31": ["Init Strength", "Init Str", 0],
			"obj-33": ["Noise Style", "Noise", 0],
			"obj-35": ["Noise Step Size", "Noise Stp", 0],
			"obj-37": ["Dance Noise Style", "DD Noise", 0],
			"obj-39": ["Dance Noise Step Size", "DD Stp", 0],
			"obj-41": ["Seed", "Seed", 0],
			"obj-43": ["Dance Seed", "DD Seed", 0],
			"obj-45": ["Lock Seeds", "Lock", 0],
			"obj-47": ["Token Multiplier", "Tokens", 0],
			"obj-49": ["Use Dance Diffusion", "Use DD", 0],
			"obj-51": ["Quality", "Quality", 0],
			"obj-53": ["Auto Insert", "Insert", 0],
			"obj-55": ["Generate", "Generate", 0],
			"obj-57": ["Cancel", "Cancel", 0],
			"obj-59": ["Server Port", "Port", 0],
			"obj-61": ["Reply Port", "Reply", 0],
			"obj-108": ["Connection Settings", "Connection", 0],
			"obj-110": ["Context And Init Files", "Files", 0],
			"obj-112": ["Recent Results", "Recents", 0],
			"inherited_shortname": 1
		},
		"dependency_cache": [
			{
				"name": "jbdiff_device.js",
				"bootpath": ".",
				"patcherrelativepath": ".",
				"type": "TEXT",
				"implicit": 1
			},
			{
				"name": "jbdiff_protocol.js",
				"bootpath": ".",
				"patcherrelativepath": ".",
				"type": "TEXT",
				"implicit": 1
			},
			{
				"name": "jbdiff_session.js",
				"bootpath": ".",
				"patcherrelativepath": ".",
				"type": "TEXT",
				"implicit": 1
			}
		],
		"latency": 0,
		"is_mpe": 0,
		"minimum_live_version": "",
		"minimum_max_version": "",
		"platform_compatibility": 0,
		"autosave": 0
	}
}
