require('./beat')('precalc-beats');
