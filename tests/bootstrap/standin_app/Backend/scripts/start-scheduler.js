require('./beat')('scheduler-beats');
